/**
 * Differential testing: the compiled evaluator against cedar-wasm (the Rust reference) on
 * generated policy sets, entity graphs and requests. Both must return the same decision, the
 * same determining policies and the same erroring policies on every case.
 */
import { cedarWasm } from '../../src/policy/cedarWasm.js';
import { compilePolicySet, requestEntitiesJson, type AuthzRequest, type CedarEntityJson, type Decision } from '../../src/policy/index.js';
import { generateEntities, generatePolicySet, generateRequest, Rng } from './generator.js';

export interface Mismatch {
  scenario: number;
  policies: string;
  entities: CedarEntityJson[];
  request: AuthzRequest;
  compiled: Decision;
  reference: { decision: string; determining: string[]; errors: string[] } | { failure: string };
}

export interface DifferentialSummary {
  seed: number;
  cases: number;
  scenarios: number;
  unparseable: number;
  allows: number;
  denies: number;
  casesWithErrors: number;
  /** Requests the compiled evaluator handed to cedar-wasm (Longs beyond 2^53). */
  delegated: number;
  /** Scenarios compiled as a whole with the cedar-wasm fallback (should be 0). */
  fallbackSets: number;
  mismatches: Mismatch[];
  mismatchCount: number;
  ms: number;
}

const SET_ID = 'warden-differential';

export function runDifferential(options: {
  cases: number;
  seed?: number;
  requestsPerSet?: number;
  keepMismatches?: number;
  onProgress?: (done: number, summary: DifferentialSummary) => void;
  onMismatch?: (m: Mismatch) => void;
}): DifferentialSummary {
  const seed = options.seed ?? 20261127;
  const perSet = options.requestsPerSet ?? 16;
  const keep = options.keepMismatches ?? 10;
  const rng = new Rng(seed);
  const s: DifferentialSummary = { seed, cases: 0, scenarios: 0, unparseable: 0, allows: 0, denies: 0, casesWithErrors: 0, delegated: 0, fallbackSets: 0, mismatches: [], mismatchCount: 0, ms: 0 };
  const started = performance.now();
  while (s.cases < options.cases) {
    const policies = generatePolicySet(rng);
    const entities = generateEntities(rng);
    s.scenarios++;
    let set;
    try {
      set = compilePolicySet(policies, { entities });
    } catch {
      s.unparseable++;
      continue;
    }
    if (set.fallback) s.fallbackSets++;
    const staticPolicies = Object.fromEntries(set.policies.map((p) => [p.id, p.text]));
    const pre = cedarWasm.preparsePolicySet(SET_ID, { staticPolicies });
    if (pre.type === 'failure') throw new Error(`cedar-wasm could not preparse a set it parsed: ${pre.errors[0]?.message}`);
    for (let i = 0; i < perSet && s.cases < options.cases; i++) {
      const request = generateRequest(rng);
      s.cases++;
      const before = set.stats.referenceDecisions;
      const compiled = set.authorize(request);
      if (set.stats.referenceDecisions !== before) s.delegated++;
      const answer = cedarWasm.statefulIsAuthorized({
        principal: request.principal,
        action: request.action,
        resource: request.resource,
        context: request.context as Record<string, never>,
        preparsedPolicySetId: SET_ID,
        entities: requestEntitiesJson(entities, request) as never,
      });
      let same: boolean;
      let reference: Mismatch['reference'];
      if (answer.type === 'failure') {
        reference = { failure: answer.errors.map((e) => e.message).join('; ') };
        same = compiled.decision === 'deny' && compiled.determining.length === 0 && compiled.errors.some((e) => e.policyId === '(request)');
      } else {
        const r = answer.response;
        reference = { decision: r.decision, determining: [...r.diagnostics.reason].sort(), errors: r.diagnostics.errors.map((e) => e.policyId).sort() };
        same =
          r.decision === compiled.decision &&
          sameList(reference.determining, [...compiled.determining].sort()) &&
          sameList(reference.errors, compiled.errors.map((e) => e.policyId).sort());
      }
      if (compiled.decision === 'allow') s.allows++;
      else s.denies++;
      if (compiled.errors.length > 0) s.casesWithErrors++;
      if (!same) {
        s.mismatchCount++;
        const m = { scenario: s.scenarios, policies, entities, request, compiled, reference };
        if (s.mismatches.length < keep) s.mismatches.push(m);
        options.onMismatch?.(m);
      }
    }
    options.onProgress?.(s.cases, s);
  }
  s.ms = performance.now() - started;
  return s;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
