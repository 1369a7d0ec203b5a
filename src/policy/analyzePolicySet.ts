import type { EntityRef } from './Authorizer.js';
import type { CompiledPolicySet, PolicyInfo } from './CompiledPolicySet.js';
import { compilePolicySet } from './CompiledPolicySet.js';
import { parseEntityRef } from './requestContext.js';
import { cedarEntityLiteral, NotExpressibleInCedar } from './cedarText.js';

export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'info';

export interface AnalyzerFinding {
  rule:
    | 'wildcard-scope'
    | 'wildcard-resource'
    | 'wildcard-principal'
    | 'wildcard-action'
    | 'unconditional-sensitive'
    | 'unused-grant'
    | 'wildcard-key-scope'
    | 'unused-key-scope'
    | 'fallback'
    | 'erroring-policy';
  severity: Severity;
  policyId?: string;
  /** Set when the policy is a permit generated from this API key's scopes (narrowed with `warden keys`, not by editing policies). */
  keyId?: string;
  message: string;
}

/** Where a generated permit comes from: an API key's scope (`model:*` or `model:<name>`). */
export interface KeyScopeGrant {
  keyId: string;
  keyName: string;
  scope: string;
}

/** The fields of an audit record the analyzer reads (see src/audit AuditRecord). */
export interface ObservedDecision {
  ts: string;
  kind: string;
  principal?: string;
  action: string;
  resource?: string;
  model?: string;
  decision?: 'allow' | 'deny';
  policies?: string[];
  policyErrors?: string[];
}

export interface AnalyzeOptions {
  sensitiveResourceTypes?: readonly string[];
  sensitiveActions?: readonly string[];
  /** Decision records; enables the unused-grant rule and the observed policy. */
  audit?: readonly ObservedDecision[];
  /** Window for unused grants, in days. */
  days?: number;
  now?: Date;
  /**
   * The permits in the set that were generated from API key scopes, by policy id: their findings
   * name the key and say how to narrow it, and a key's `model:*` (two permits, `resource is Model`
   * and `resource is ModelVersion`) is one finding.
   */
  keyScopes?: ReadonlyMap<string, KeyScopeGrant>;
}

export interface AnalysisReport {
  version: string;
  policies: number;
  findings: AnalyzerFinding[];
  summary: { findings: number; bySeverity: Record<Severity, number> };
  /** Allowed requests per permit policy within the window (only with audit records). */
  usage?: Record<string, number>;
  /** Least-privilege policy set that allows exactly the observed allowed traffic. */
  /** skippedRecords: allowed decisions left out (no principal/action/resource, or one Cedar cannot write). */
  observedPolicy?: { text: string; allowedRequests: number; skippedRecords: number; window: { since: string; until: string } };
}

const SEVERITY_ORDER: Severity[] = ['critical', 'high', 'medium', 'low', 'info'];
const SENSITIVE_CLASSES = new Set(['confidential', 'restricted']);

type Constraint = { op: string; entity?: { type: string; id: string }; entities?: { type: string; id: string }[]; entity_type?: string; in?: { entity?: { type: string; id: string } } };

function uidOf(x: unknown): EntityRef | undefined {
  const u = x as { type?: string; id?: string; __entity?: EntityRef } | undefined;
  if (!u) return undefined;
  if (u.__entity) return u.__entity;
  return typeof u.type === 'string' && typeof u.id === 'string' ? { type: u.type, id: u.id } : undefined;
}

/** A condition that can narrow a policy: not the literal `when { true }` / `unless { false }`. */
function narrows(c: { kind: string; body: unknown }): boolean {
  const literal = (c.body as { Value?: unknown } | null)?.Value;
  return !((c.kind === 'when' && literal === true) || (c.kind === 'unless' && literal === false));
}

function describe(e: EntityRef): string {
  return `${e.type}::${JSON.stringify(e.id)}`;
}

/**
 * The IAM Access Analyzer job for Cedar: static findings on scopes and conditions, plus, with
 * audit records, grants nobody used and a minimal policy set derived from observed traffic.
 */
export function analyzePolicySet(set: CompiledPolicySet, options: AnalyzeOptions = {}): AnalysisReport {
  const sensitiveTypes = new Set(options.sensitiveResourceTypes ?? ['Dataset', 'Feature']);
  const sensitiveActions = new Set(options.sensitiveActions ?? ['writeDataset', 'registerModel', 'deployModel', 'admin']);
  const findings: AnalyzerFinding[] = [];
  const classification = new Map<string, string>();
  for (const e of set.entitiesJson) {
    const uid = uidOf(e.uid);
    const c = (e.attrs as { classification?: unknown } | undefined)?.classification;
    if (uid && typeof c === 'string') classification.set(describe(uid), c);
  }
  const isSensitiveEntity = (e: EntityRef): boolean => sensitiveTypes.has(e.type) || SENSITIVE_CLASSES.has(classification.get(describe(e)) ?? '');
  const actionIsSensitive = (c: Constraint): boolean => {
    if (c.op === 'All') return true;
    const ids = c.entities ? c.entities.map((e) => e.id) : c.entity ? [c.entity.id] : [];
    return ids.some((id) => sensitiveActions.has(id) || [...sensitiveActions].some((s) => id.startsWith(`${s}::`)));
  };

  const keyScopes = options.keyScopes ?? new Map<string, KeyScopeGrant>();
  const keyHint = (g: KeyScopeGrant): string => `API key ${g.keyId} (${JSON.stringify(g.keyName)}), scope ${g.scope}`;
  // A key's scopes are fixed at creation: narrowing one is a new key (a name has one active key).
  const recreate = (g: KeyScopeGrant, what: string): string =>
    `\`warden keys revoke ${g.keyId}\` then \`warden keys create --name ${JSON.stringify(g.keyName)} --model <model>…\` ${what}`;
  const wildcardKeys = new Set<string>();

  if (set.fallback) findings.push({ rule: 'fallback', severity: 'info', message: `evaluated by cedar-wasm (slower): ${set.fallbackReasons.join('; ')}` });

  for (const policy of set.policies) {
    const json = policy.json;
    if (json.effect !== 'permit') continue;
    const p = json.principal as Constraint;
    const a = json.action as Constraint;
    const r = json.resource as Constraint;
    const conditional = json.conditions.some(narrows);
    const where = conditional ? ' (narrowed only by its conditions)' : '';
    const grant = keyScopes.get(policy.id);
    if (grant) {
      // Generated: principal ==, two listed actions, resource `in Model::"M"` or, for model:*, `is`.
      if (r.op === 'is' && !wildcardKeys.has(grant.keyId)) {
        wildcardKeys.add(grant.keyId);
        findings.push({
          rule: 'wildcard-key-scope',
          severity: 'high',
          policyId: policy.id,
          keyId: grant.keyId,
          message: `${keyHint(grant)}: may invoke every model, including models added later; narrow it: ${recreate(grant, 'listing only the models it needs')}`,
        });
      }
    }
    if (p.op === 'All' && a.op === 'All' && r.op === 'All') {
      findings.push({
        rule: 'wildcard-scope',
        severity: conditional ? 'high' : 'critical',
        policyId: policy.id,
        message: `permits every principal every action on every resource${where}`,
      });
      continue;
    }
    if (!grant && r.op === 'is' && !r.in) {
      findings.push({
        rule: 'wildcard-resource',
        severity: actionIsSensitive(a) || !conditional ? 'high' : 'medium',
        policyId: policy.id,
        message: `grants ${actionList(a)} on every ${r.entity_type}${where}; scope it to the resources that need it`,
      });
    }
    if (r.op === 'All') {
      findings.push({
        rule: 'wildcard-resource',
        severity: actionIsSensitive(a) || !conditional ? 'high' : 'medium',
        policyId: policy.id,
        message: `grants ${actionList(a)} on every resource${where}; scope it to the resources that need it`,
      });
    }
    if (p.op === 'All' || (p.op === 'is' && !p.in)) {
      const who = p.op === 'All' ? 'principal' : p.entity_type;
      findings.push({ rule: 'wildcard-principal', severity: conditional ? 'medium' : 'high', policyId: policy.id, message: `applies to every ${who}${where}` });
    }
    if (a.op === 'All' && r.op !== 'All') {
      findings.push({ rule: 'wildcard-action', severity: 'medium', policyId: policy.id, message: `allows every action${where}; list the actions needed` });
    }
    if (!conditional && r.op !== 'All') {
      const target = r.entity ?? r.in?.entity;
      // `resource is Dataset in Tenant::"t"` grants every Dataset of the tenant: the type counts too.
      const sensitiveType = r.entity_type !== undefined && sensitiveTypes.has(r.entity_type);
      if (sensitiveType || (target !== undefined && isSensitiveEntity(target))) {
        const what = r.op === 'is' ? `every ${r.entity_type}${target ? ` in ${describe(target)}` : ''}` : describe(target!);
        findings.push({
          rule: 'unconditional-sensitive',
          severity: 'medium',
          policyId: policy.id,
          ...(grant ? { keyId: grant.keyId } : {}),
          message: `${grant ? `${keyHint(grant)}: ` : ''}permits access to sensitive ${what} without any condition (add e.g. context.mfa, region or classification checks)`,
        });
      }
    }
  }

  const report: AnalysisReport = { version: set.version, policies: set.policies.length, findings, summary: { findings: 0, bySeverity: { critical: 0, high: 0, medium: 0, low: 0, info: 0 } } };

  if (options.audit) {
    const now = options.now ?? new Date();
    const days = options.days ?? 90;
    const since = new Date(now.getTime() - days * 86_400_000);
    const inWindow = options.audit.filter((r) => r.kind === 'decision' && Date.parse(r.ts) >= since.getTime() && Date.parse(r.ts) <= now.getTime());
    const usage: Record<string, number> = {};
    for (const p of set.policies) if (p.effect === 'permit') usage[p.id] = 0;
    for (const r of inWindow) {
      if (r.decision !== 'allow') continue;
      for (const id of r.policies ?? []) if (id in usage) usage[id]!++;
    }
    // A key's scope is unused when none of its permits was (model:* is two).
    const scopeUse = new Map<string, { grant: KeyScopeGrant; policyId: string; used: number }>();
    for (const [id, n] of Object.entries(usage)) {
      const grant = keyScopes.get(id);
      if (!grant) {
        if (n === 0) findings.push({ rule: 'unused-grant', severity: 'low', policyId: id, message: `not used by any allowed request in the last ${days} days; remove it if nobody needs it` });
        continue;
      }
      const key = `${grant.keyId}\n${grant.scope}`;
      const u = scopeUse.get(key);
      if (u) u.used += n;
      else scopeUse.set(key, { grant, policyId: id, used: n });
    }
    for (const { grant, policyId, used } of scopeUse.values()) {
      if (used > 0) continue;
      findings.push({
        rule: 'unused-key-scope',
        severity: 'low',
        policyId,
        keyId: grant.keyId,
        message: `${keyHint(grant)}: not used by any allowed request in the last ${days} days; if nobody needs it: ${recreate(grant, 'without it')}`,
      });
    }
    const erroring = new Map<string, number>();
    for (const r of inWindow) for (const id of r.policyErrors ?? []) erroring.set(id, (erroring.get(id) ?? 0) + 1);
    for (const [id, n] of erroring) {
      if (set.policy(id)) findings.push({ rule: 'erroring-policy', severity: 'medium', policyId: id, message: `raised evaluation errors on ${n} request(s) in the window; an erroring forbid does not apply` });
    }
    report.usage = usage;
    report.observedPolicy = { ...observedPolicy(inWindow), window: { since: since.toISOString(), until: now.toISOString() } };
  }

  findings.sort((x, y) => SEVERITY_ORDER.indexOf(x.severity) - SEVERITY_ORDER.indexOf(y.severity));
  report.summary.findings = findings.length;
  for (const f of findings) report.summary.bySeverity[f.severity]++;
  return report;
}

function actionList(a: Constraint): string {
  if (a.op === 'All') return 'every action';
  const ids = a.entities ? a.entities.map((e) => e.id) : a.entity ? [a.entity.id] : [];
  return ids.join(', ');
}

function tryRef(text: string | undefined, defaultType: string): EntityRef | undefined {
  if (!text) return undefined;
  try {
    return parseEntityRef(text);
  } catch {
    return /^[A-Za-z0-9_.:@/+-]{1,256}$/.test(text) && defaultType ? { type: defaultType, id: text } : undefined;
  }
}

/** The three entities of an allowed decision in Cedar syntax, or undefined when one is missing or inexpressible. */
function observedLiterals(r: ObservedDecision): { principal: string; action: string; resource: string } | undefined {
  const principal = tryRef(r.principal, '');
  const action = tryRef(r.action, 'Action');
  const resource = tryRef(r.resource, '') ?? (r.model ? { type: 'Model', id: r.model } : undefined);
  if (!principal || !action || !resource) return undefined;
  try {
    return { principal: cedarEntityLiteral(principal), action: cedarEntityLiteral(action), resource: cedarEntityLiteral(resource) };
  } catch (err) {
    if (err instanceof NotExpressibleInCedar) return undefined; // one odd record must not fail the whole analysis
    throw err;
  }
}

/**
 * One permit per (principal, action) listing exactly the resources it was allowed on. Records
 * without the three entities, or naming one Cedar cannot write (a lone surrogate), are counted
 * in skippedRecords and left out.
 */
export function observedPolicy(records: readonly ObservedDecision[]): { text: string; allowedRequests: number; skippedRecords: number } {
  const grants = new Map<string, { principal: string; action: string; resources: Set<string>; models: Set<string>; count: number }>();
  let allowed = 0;
  let skipped = 0;
  for (const r of records) {
    if (r.kind !== 'decision' || r.decision !== 'allow') continue;
    const lits = observedLiterals(r);
    if (!lits) {
      skipped++;
      continue;
    }
    allowed++;
    const key = `${lits.principal} ${lits.action}`;
    let g = grants.get(key);
    if (!g) grants.set(key, (g = { principal: lits.principal, action: lits.action, resources: new Set(), models: new Set(), count: 0 }));
    (lits.resource.startsWith('Model::"') ? g.models : g.resources).add(lits.resource);
    g.count++;
  }
  const blocks: string[] = [];
  let n = 0;
  for (const g of [...grants.values()].sort((a, b) => (a.principal + a.action).localeCompare(b.principal + b.action))) {
    n++;
    const head = `// ${g.count} allowed request(s) observed\n@id("observed-${n}")\npermit(\n  principal == ${g.principal},\n  action == ${g.action},\n`;
    // Audit records name the Model of a call also when a ModelVersion (in that Model) was
    // authorized: `in`, as `==` would refuse the very calls that were observed.
    const models = [...g.models].sort((a, b) => a.localeCompare(b));
    const others = [...g.resources].sort((a, b) => a.localeCompare(b));
    if (models.length + others.length === 1) blocks.push(`${head}  resource ${models.length ? 'in' : '=='} ${models[0] ?? others[0]}\n);`);
    else {
      const conditions = [...(models.length ? [`resource in [${models.join(', ')}]`] : []), ...(others.length ? [`[${others.join(', ')}].contains(resource)`] : [])];
      blocks.push(`${head}  resource\n) when { ${conditions.join(' || ')} };`);
    }
  }
  const text = blocks.join('\n\n') + (blocks.length ? '\n' : '');
  if (text) compilePolicySet(text); // what we generate must parse
  return { text, allowedRequests: allowed, skippedRecords: skipped };
}

export type { PolicyInfo };
