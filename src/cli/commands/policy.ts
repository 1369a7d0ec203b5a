import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { WardenError, isWardenError } from '../../errors/index.js';
import {
  analyzePolicySet,
  assertNoReservedPolicyIds,
  assertSplitMatchesCedar,
  compilePolicySet,
  explainDecision,
  importIamPolicy,
  parseAuthzRequest,
  parseEntityRef,
  readAuditJsonl,
  runPolicyTests,
  type AnalysisReport,
  type CedarEntityJson,
  type Explanation,
  type Severity,
} from '../../policy/index.js';
import { withAdminClient, withAdminOptions } from '../adminClient.js';
import { configFor, setExitCode } from '../context.js';
import { formatTable, parseFormat, printJson, printText } from '../output.js';

const SEVERITIES: Severity[] = ['critical', 'high', 'medium', 'low', 'info'];

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new WardenError('WARDEN_IO', `cannot read ${what} ${path}`, { cause });
  }
}

function readEntities(path: string | undefined): CedarEntityJson[] | undefined {
  if (!path) return undefined;
  try {
    const v = JSON.parse(readText(path, 'entities file')) as unknown;
    if (!Array.isArray(v)) throw new Error('not a JSON array');
    return v as CedarEntityJson[];
  } catch (cause) {
    if (isWardenError(cause)) throw cause;
    throw new WardenError('WARDEN_POLICY_ENTITIES_INVALID', `${path}: ${(cause as Error).message}`);
  }
}

function parseJsonOption(text: string | undefined, what: string): Record<string, unknown> {
  if (text === undefined) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new WardenError('WARDEN_USAGE', `${what} must be a JSON object, e.g. '{"region":"eu-west-1"}'`);
  }
}


function explanationText(e: Explanation): string {
  const scopes = e.keyScopesIncluded === undefined ? '' : e.keyScopesIncluded ? ', API key scopes included' : ', API key scopes not included';
  const lines = [`${e.decision.toUpperCase()} (${e.reason}) — policy version ${e.policyVersion}, ${e.evaluator} evaluator${scopes}`, `  ${e.request.principal} → ${e.request.action} → ${e.request.resource}`];
  for (const d of e.determining) lines.push(`  ${d.effect} ${d.id}:`, ...d.text.split('\n').map((l) => `    ${l}`));
  for (const err of e.errors) lines.push(`  error in ${err.policyId}: ${err.message}`);
  return lines.join('\n');
}

function analysisText(r: AnalysisReport): string {
  const lines = [`policy version ${r.version}: ${r.policies} policies, ${r.summary.findings} findings`];
  if (r.findings.length) lines.push(formatTable(['SEVERITY', 'RULE', 'POLICY', 'MESSAGE'], r.findings.map((f) => [f.severity, f.rule, f.policyId ?? '-', f.message])));
  if (r.observedPolicy) {
    const skipped = r.observedPolicy.skippedRecords ? `; ${r.observedPolicy.skippedRecords} left out (no principal/action/resource, or not expressible in Cedar)` : '';
    lines.push('', `// least-privilege policy from ${r.observedPolicy.allowedRequests} allowed requests (${r.observedPolicy.window.since} … ${r.observedPolicy.window.until})${skipped}:`, r.observedPolicy.text || '// (no allowed traffic observed)');
  }
  return lines.join('\n');
}

function atOrAbove(severity: Severity, threshold: Severity): boolean {
  return SEVERITIES.indexOf(severity) <= SEVERITIES.indexOf(threshold);
}

export function registerPolicyCommands(program: Command): void {
  const policy = withAdminOptions(program.command('policy').description('Cedar policies: check, explain, test, analyze, import IAM, push and roll back'));

  policy
    .command('check <file>')
    .description('parse and validate a policy file offline; reports constructs evaluated by the cedar-wasm fallback')
    .option('--schema <file>', 'Cedar schema to validate against (e.g. examples/policies/schema.cedarschema)')
    .option('--entities <file>', 'entities (Cedar JSON) the policies are evaluated with')
    .option('--format <format>', 'text|json', 'text')
    .action((file: string, opts: { schema?: string; entities?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const text = readText(file, 'policy file');
      const schemaText = opts.schema ? readText(opts.schema, 'schema') : undefined;
      const entities = readEntities(opts.entities);
      try {
        const set = compilePolicySet(text, { schemaText, entities });
        assertSplitMatchesCedar(text);
        assertNoReservedPolicyIds(set.policies);
        const result = {
          ok: true,
          file,
          version: set.version,
          validated: schemaText !== undefined,
          policyCount: set.policies.length,
          policies: set.policies.map((p) => ({ id: p.id, effect: p.effect })),
          evaluator: set.fallback ? 'cedar-wasm' : 'compiled',
          fallback: set.fallback,
          fallbackReasons: set.fallbackReasons,
        };
        if (format === 'json') printJson(result);
        else
          printText(
            `ok: ${file}: ${set.policies.length} policies${schemaText ? ', valid against the schema' : ' (no schema: not validated)'}\n` +
              (set.fallback ? `fallback: evaluated by cedar-wasm (slower) because: ${set.fallbackReasons.join('; ')}` : 'evaluator: compiled'),
          );
      } catch (err) {
        if (!isWardenError(err) || !err.code.startsWith('WARDEN_POLICY_')) throw err;
        // The file is what is being checked: an invalid policy is a failed check (exit 1), not a usage error.
        if (format === 'json') printJson({ ok: false, file, error: { code: err.code, message: err.message } });
        else printText(`FAIL: ${file}: ${err.code}: ${err.message}`);
        setExitCode(cmd, 1);
      }
    });

  policy
    .command('explain')
    .description('show the decision for one request and the policies that determined it')
    .requiredOption('--principal <entity>', 'e.g. ApiKey::"demo" or User::"alice"')
    .requiredOption('--action <action>', 'e.g. invoke or Action::"invoke"')
    .requiredOption('--resource <entity>', 'e.g. Model::"iris"')
    .option('--context <json>', 'request context as JSON', '{}')
    .option('--principal-parent <entity...>', 'groups/tenant of the principal (as authentication finds them)')
    .option('--resource-parent <entity...>', 'parents of the resource')
    .option('--policies <file>', 'explain offline against this policy file instead of the server')
    .option('--schema <file>', 'schema for --policies')
    .option('--entities <file>', 'entities for --policies')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { principal: string; action: string; resource: string; context: string; principalParent?: string[]; resourceParent?: string[]; policies?: string; schema?: string; entities?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const input = {
        principal: opts.principal,
        action: opts.action,
        resource: opts.resource,
        context: parseJsonOption(opts.context, '--context'),
        principalParents: opts.principalParent,
        resourceParents: opts.resourceParent,
      };
      const request = parseAuthzRequest(input);
      let e: Explanation;
      if (opts.policies) {
        const set = compilePolicySet(readText(opts.policies, 'policy file'), { schemaText: opts.schema ? readText(opts.schema, 'schema') : undefined, entities: readEntities(opts.entities) });
        e = explainDecision(set, request);
      } else {
        e = await withAdminClient(cmd, (c) => c.call<Explanation>('POST', '/api/v1/policies/explain', input));
      }
      if (format === 'json') printJson(e);
      else printText(explanationText(e));
    });

  policy
    .command('test <file>')
    .description('run YAML policy test cases (request → expected decision); exit 1 when any fails')
    .option('--format <format>', 'text|json', 'text')
    .action((file: string, opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const report = runPolicyTests(file);
      if (format === 'json') printJson(report);
      else {
        const lines = report.results.map((r) => `${r.ok ? 'PASS' : 'FAIL'}  ${r.name}${r.message ? `\n      ${r.message}` : ''}`);
        lines.push(`${report.passed} passed, ${report.failed} failed (${file}, policy ${report.policyVersion})`);
        printText(lines.join('\n'));
      }
      if (report.failed > 0) setExitCode(cmd, 1);
    });

  policy
    .command('analyze')
    .description('least-privilege analysis: wildcard scopes, unconditional sensitive grants, unused grants, observed policy')
    .option('--policies <file>', 'analyze this file offline (default: the published set, through the server)')
    .option('--schema <file>', 'schema for --policies')
    .option('--entities <file>', 'entities for --policies')
    .option('--audit <file>', 'audit records (JSON Lines, e.g. from `warden audit export`) for unused grants and the observed policy')
    .option('--days <n>', 'window for unused grants, in days')
    .option('--fail-on <severity>', 'exit 1 when a finding is at or above: critical|high|medium|low|info|none', 'high')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { policies?: string; schema?: string; entities?: string; audit?: string; days?: string; failOn: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const config = configFor(cmd);
      if (opts.failOn !== 'none' && !SEVERITIES.includes(opts.failOn as Severity)) throw new WardenError('WARDEN_USAGE', `--fail-on must be one of ${SEVERITIES.join(', ')}, none`);
      const days = opts.days === undefined ? config.policy.unusedGrantDays : Number(opts.days);
      if (!Number.isInteger(days) || days < 1 || days > 3650) throw new WardenError('WARDEN_USAGE', '--days must be an integer from 1 to 3650');
      let report: AnalysisReport;
      if (opts.policies) {
        const set = compilePolicySet(readText(opts.policies, 'policy file'), { schemaText: opts.schema ? readText(opts.schema, 'schema') : undefined, entities: readEntities(opts.entities) });
        const now = new Date();
        const audit = opts.audit ? await readAuditJsonl(opts.audit, { since: new Date(now.getTime() - days * 86_400_000) }) : undefined;
        report = analyzePolicySet(set, { audit, days, now, sensitiveResourceTypes: config.policy.sensitiveResourceTypes, sensitiveActions: config.policy.sensitiveActions });
      } else {
        if (opts.audit) throw new WardenError('WARDEN_USAGE', '--audit needs --policies (the server reads its own audit log)');
        report = await withAdminClient(cmd, (c) => c.call<AnalysisReport>('GET', `/api/v1/policies/analyze?days=${days}`));
      }
      if (format === 'json') printJson(report);
      else printText(analysisText(report));
      if (opts.failOn !== 'none' && report.findings.some((f) => atOrAbove(f.severity, opts.failOn as Severity))) setExitCode(cmd, 1);
    });

  policy
    .command('import-iam <file>')
    .description('translate an AWS IAM policy (Effect/Action/Resource/Condition) into Cedar; reports what cannot be translated')
    .option('--principal <entity>', 'principal the IAM policy is attached to, e.g. User::"alice" (default: every principal)')
    .option('--schema <file>', 'validate the result against this schema')
    .option('--format <format>', 'text|json', 'text')
    .action((file: string, opts: { principal?: string; schema?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      let doc: unknown;
      try {
        doc = JSON.parse(readText(file, 'IAM policy'));
      } catch (cause) {
        if (isWardenError(cause)) throw cause;
        throw new WardenError('WARDEN_POLICY_IAM_INVALID', `${file} is not JSON`);
      }
      const result = importIamPolicy(doc, { principal: opts.principal ? parseEntityRef(opts.principal) : undefined });
      const set = compilePolicySet(result.cedar, { schemaText: opts.schema ? readText(opts.schema, 'schema') : undefined });
      const analysis = analyzePolicySet(set);
      if (format === 'json') printJson({ ...result, analysis });
      else {
        const lines = [result.cedar.trimEnd()];
        for (const u of result.untranslated) lines.push(`// NOT TRANSLATED ${u.statement}: ${u.reason}`);
        for (const n of result.notes) lines.push(`// note: ${n}`);
        for (const f of analysis.findings) lines.push(`// ${f.severity.toUpperCase()} ${f.rule} ${f.policyId ?? ''}: ${f.message}`);
        printText(lines.join('\n'));
      }
      if (result.untranslated.length > 0 || analysis.findings.some((f) => atOrAbove(f.severity, 'high'))) setExitCode(cmd, 1);
    });

  policy
    .command('push <file>')
    .description('validate and publish a policy set; gateways get it in their next snapshot (over TLS, authenticated by their PEP token; not separately signed)')
    .option('--schema <file>', 'schema to validate against (default: keep the current one)')
    .option('--no-schema', 'publish without a schema')
    .option('--entities <file>', 'entities (Cedar JSON) shipped with the policies')
    .option('--comment <text>', 'why (kept with the version)')
    .option('--format <format>', 'text|json', 'text')
    .action(async (file: string, opts: { schema?: string | false; entities?: string; comment?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const body = {
        policies: readText(file, 'policy file'),
        ...(opts.schema === false ? { schema: null } : typeof opts.schema === 'string' ? { schema: readText(opts.schema, 'schema') } : {}),
        ...(opts.entities ? { entities: readEntities(opts.entities) } : {}),
        ...(opts.comment ? { comment: opts.comment } : {}),
      };
      const r = await withAdminClient(cmd, (c) => c.call<{ version: number; policyCount: number; fallback: boolean; fallbackReasons: string[] }>('PUT', '/api/v1/policies', body));
      if (format === 'json') printJson(r);
      else printText(`published policy version ${r.version} (${r.policyCount} policies)${r.fallback ? `; evaluated by cedar-wasm because: ${r.fallbackReasons.join('; ')}` : ''}`);
    });

  policy
    .command('rollback <version>')
    .description('make an earlier version current again (published as a new version)')
    .option('--format <format>', 'text|json', 'text')
    .action(async (version: string, opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const v = Number(version);
      if (!Number.isSafeInteger(v) || v < 1) throw new WardenError('WARDEN_USAGE', 'VERSION must be a positive integer');
      const r = await withAdminClient(cmd, (c) => c.call<{ version: number; rolledBackFrom: number }>('POST', '/api/v1/policies/rollback', { version: v }));
      if (format === 'json') printJson(r);
      else printText(`policy version ${r.version} is current (content of version ${r.rolledBackFrom})`);
    });

  policy
    .command('versions')
    .description('list published policy versions')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (c) =>
        c.call<{ versions: { version: number; digest: string; author: string; comment: string | null; rolledBackFrom: number | null; createdAt: string }[] }>('GET', '/api/v1/policies/versions'),
      );
      if (format === 'json') printJson(r);
      else printText(formatTable(['VERSION', 'CREATED', 'AUTHOR', 'DIGEST', 'COMMENT'], r.versions.map((v) => [v.version, v.createdAt, v.author, v.digest.slice(0, 12), v.comment ?? (v.rolledBackFrom ? `rollback to ${v.rolledBackFrom}` : null)])));
    });

  policy
    .command('show')
    .description('print the current (or a given) policy set')
    .option('--version <n>', 'a published version')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { version?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const path = opts.version ? `/api/v1/policies/versions/${Number(opts.version)}` : '/api/v1/policies';
      const r = await withAdminClient(cmd, (c) => c.call<{ version: number; policies: string }>('GET', path));
      if (format === 'json') printJson(r);
      else printText(`// policy version ${r.version}\n${r.policies}`);
    });
}
