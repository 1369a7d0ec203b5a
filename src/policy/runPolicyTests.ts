import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { WardenError } from '../errors/index.js';
import type { AuthzRequest } from './Authorizer.js';
import type { CedarEntityJson } from './cedar/EntityStore.js';
import { compilePolicySet } from './CompiledPolicySet.js';
import { parseEntityRef } from './requestContext.js';

const entityText = z.string().min(1).max(1024);
const testCase = z.strictObject({
  name: z.string().min(1).max(200),
  principal: entityText,
  principalParents: z.array(entityText).max(100).optional(),
  /** `invoke` or `Action::"invoke"`. */
  action: entityText,
  resource: entityText,
  resourceParents: z.array(entityText).max(100).optional(),
  context: z.record(z.string(), z.unknown()).default({}),
  expect: z.enum(['allow', 'deny']),
  /** Exact set of determining policy ids, when given. */
  determining: z.array(z.string()).optional(),
  /** Exact set of erroring policy ids, when given (default: no check). */
  errors: z.array(z.string()).optional(),
});

const testFile = z.strictObject({
  /** Policy file, relative to the test file. */
  policies: z.string().min(1),
  schema: z.string().min(1).optional(),
  /** Entities file (JSON) relative to the test file, or an inline list. */
  entities: z.union([z.string().min(1), z.array(z.record(z.string(), z.unknown()))]).optional(),
  tests: z.array(testCase).min(1).max(100_000),
});

export type PolicyTestFile = z.infer<typeof testFile>;

export interface PolicyTestResult {
  name: string;
  ok: boolean;
  expected: { decision: string; determining?: string[]; errors?: string[] };
  actual: { decision: string; determining: string[]; errors: string[] };
  message?: string;
}

export interface PolicyTestReport {
  file: string;
  policyVersion: string;
  passed: number;
  failed: number;
  results: PolicyTestResult[];
}

function readRelative(base: string, path: string, what: string): string {
  try {
    return readFileSync(resolve(dirname(base), path), 'utf8');
  } catch (cause) {
    throw new WardenError('WARDEN_POLICY_TEST_INVALID', `${what} ${path} cannot be read`, { cause });
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** Runs a YAML file of request → expected decision cases against a policy set (like `opa test`). */
export function runPolicyTests(file: string): PolicyTestReport {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'), { maxAliasCount: 100 });
  } catch (cause) {
    throw new WardenError('WARDEN_POLICY_TEST_INVALID', `${file}: ${(cause as Error).message.split('\n')[0]}`, { cause });
  }
  const parsed = testFile.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new WardenError('WARDEN_POLICY_TEST_INVALID', `${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const spec = parsed.data;
  let entities: CedarEntityJson[] | undefined;
  if (typeof spec.entities === 'string') {
    try {
      entities = JSON.parse(readRelative(file, spec.entities, 'entities file')) as CedarEntityJson[];
    } catch (cause) {
      if (cause instanceof WardenError) throw cause;
      throw new WardenError('WARDEN_POLICY_TEST_INVALID', `${spec.entities} is not valid JSON`, { cause });
    }
  } else entities = spec.entities as CedarEntityJson[] | undefined;
  const set = compilePolicySet(readRelative(file, spec.policies, 'policy file'), {
    schemaText: spec.schema ? readRelative(file, spec.schema, 'schema file') : undefined,
    entities,
  });
  const results: PolicyTestResult[] = spec.tests.map((t) => {
    const action = t.action.includes('::') ? parseEntityRef(t.action) : { type: 'Action', id: t.action };
    const request: AuthzRequest = {
      principal: parseEntityRef(t.principal),
      action,
      resource: parseEntityRef(t.resource),
      context: t.context,
      principalParents: t.principalParents?.map(parseEntityRef),
      resourceParents: t.resourceParents?.map(parseEntityRef),
    };
    const d = set.authorize(request);
    const actual = { decision: d.decision, determining: d.determining, errors: d.errors.map((e) => e.policyId) };
    const problems: string[] = [];
    if (d.decision !== t.expect) problems.push(`expected ${t.expect}, got ${d.decision}`);
    if (t.determining && !sameSet(t.determining, actual.determining)) problems.push(`expected determining [${t.determining.join(', ')}], got [${actual.determining.join(', ')}]`);
    if (t.errors && !sameSet(t.errors, actual.errors)) problems.push(`expected errors in [${t.errors.join(', ')}], got [${actual.errors.join(', ')}]`);
    // Errors explain a surprising decision: show them with any failure.
    if (problems.length > 0 && d.errors.length > 0) problems.push(`policy errors: ${d.errors.map((e) => `${e.policyId}: ${e.message}`).join('; ')}`);
    return {
      name: t.name,
      ok: problems.length === 0,
      expected: { decision: t.expect, determining: t.determining, errors: t.errors },
      actual,
      ...(problems.length ? { message: problems.join('; ') } : {}),
    };
  });
  const passed = results.filter((r) => r.ok).length;
  return { file, policyVersion: set.version, passed, failed: results.length - passed, results };
}
