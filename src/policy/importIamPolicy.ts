import { WardenError } from '../errors/index.js';
import type { EntityRef } from './Authorizer.js';
import { compilePolicySet } from './CompiledPolicySet.js';
import { cedarEntityLiteral, cedarStringLiteral, NotExpressibleInCedar } from './cedarText.js';

export interface IamImportResult {
  /** Cedar policy text (parses; validate it against the schema with `policy check`). */
  cedar: string;
  policies: number;
  /** Statements or parts that have no faithful Cedar translation (they are left out, never widened). */
  untranslated: { statement: string; reason: string }[];
  notes: string[];
}

/**
 * AWS action → Warden action(s). Hand-written: it is Warden's own domain mapping (which IAM
 * permission corresponds to which Warden action); no library knows it.
 */
const ACTION_MAP: Record<string, string[]> = {
  'sagemaker:InvokeEndpoint': ['invoke'],
  'sagemaker:InvokeEndpointAsync': ['invoke'],
  'sagemaker:InvokeEndpointWithResponseStream': ['invoke'],
  'bedrock:InvokeModel': ['invoke'],
  'bedrock:InvokeModelWithResponseStream': ['invoke'],
  'sagemaker:CreateModel': ['registerModel'],
  'sagemaker:CreateModelPackage': ['registerModel'],
  'sagemaker:CreateTrainingJob': ['readDataset', 'registerModel'],
  'sagemaker:CreateEndpoint': ['deployModel'],
  'sagemaker:CreateEndpointConfig': ['deployModel'],
  'sagemaker:UpdateEndpoint': ['deployModel'],
  'sagemaker:GetRecord': ['readFeature'],
  'sagemaker:BatchGetRecord': ['readFeature'],
  'sagemaker:PutRecord': ['writeDataset'],
  's3:GetObject': ['readDataset'],
  // s3:ListBucket is left out on purpose: listing keys is not reading them (readDataset would widen it).
  's3:PutObject': ['writeDataset'],
  's3:DeleteObject': ['writeDataset'],
};

const MAX_STATEMENTS = 1000;

interface Statement {
  Sid?: unknown;
  Effect?: unknown;
  Action?: unknown;
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
  Principal?: unknown;
  NotPrincipal?: unknown;
  Condition?: unknown;
}

class Untranslatable extends Error {}

/** Cedar text of a value from the document; one Cedar cannot write makes the statement untranslatable. */
function cedar<T>(write: (v: T) => string, v: T): string {
  try {
    return write(v);
  } catch (err) {
    if (err instanceof NotExpressibleInCedar) throw new Untranslatable(err.message);
    throw err;
  }
}
const lit = (e: EntityRef): string => cedar(cedarEntityLiteral, e);
const str = (v: string): string => cedar(cedarStringLiteral, v);
/** Text from the IAM document inside a `//` comment: a CR or LF would end the comment and turn the rest into policy. */
const commentText = (s: string): string => s.replace(/[\p{Cc}\p{Zl}\p{Zp}]/gu, ' ');
const list = (v: unknown): string[] | undefined => (typeof v === 'string' ? [v] : Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined);


function translateActions(actions: string[], notes: Set<string>): string[] | 'all' {
  const out = new Set<string>();
  for (const a of actions) {
    if (a === '*') return 'all';
    if (a.includes('*') || a.includes('?')) {
      const re = new RegExp(`^${a.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
      const matched = Object.keys(ACTION_MAP).filter((k) => re.test(k));
      if (matched.length === 0) throw new Untranslatable(`action pattern ${a} matches no action Warden knows`);
      notes.add(`${a} expanded to the actions Warden knows: ${matched.join(', ')}`);
      for (const m of matched) for (const w of ACTION_MAP[m]!) out.add(w);
      continue;
    }
    const key = Object.keys(ACTION_MAP).find((k) => k.toLowerCase() === a.toLowerCase());
    if (!key) throw new Untranslatable(`action ${a} has no Warden equivalent`);
    for (const w of ACTION_MAP[key]!) out.add(w);
  }
  return [...out];
}

/**
 * ARN → Warden entity, e.g. arn:aws:sagemaker:eu-west-1:123:endpoint/iris → Model::"iris". An S3
 * object-key prefix (`bucket/secret/*`) has no Warden entity (Datasets are buckets): a Deny on it
 * forbids the whole bucket and an Allow on it is left out, so either way it fails closed.
 */
function translateResource(arn: string, effect: 'Allow' | 'Deny', notes: Set<string>): EntityRef | 'all' {
  if (arn === '*') return 'all';
  const m = /^arn:aws[a-z-]*:([a-z0-9-]+):[^:]*:[^:]*:(.+)$/.exec(arn);
  if (!m) throw new Untranslatable(`resource ${arn} is not an ARN`);
  const [, service, rest] = m as unknown as [string, string, string];
  let entity: EntityRef | undefined;
  let name: string | undefined;
  if (service === 's3') {
    name = rest.replace(/\/\*$/, '');
    const slash = name.indexOf('/');
    if (slash >= 0) {
      const bucket = name.slice(0, slash);
      if (effect === 'Allow' || !bucket || /[*?]/.test(bucket)) throw new Untranslatable(`resource ${arn} is a key prefix inside a bucket; Warden's Datasets are whole buckets`);
      notes.add(`Deny on ${arn} (a key prefix) forbids the whole bucket Dataset::${cedarStringLiteral(bucket)}: Warden's Datasets are whole buckets`);
      name = bucket;
    }
    entity = { type: 'Dataset', id: name };
  } else {
    const slash = rest.indexOf('/');
    const kind = slash < 0 ? rest : rest.slice(0, slash);
    name = slash < 0 ? '' : rest.slice(slash + 1);
    const type = { endpoint: 'Model', model: 'Model', 'model-package': 'Model', 'foundation-model': 'Model', 'feature-group': 'Dataset', 'training-job': 'Model' }[kind];
    if (type) entity = { type, id: name };
  }
  if (!entity || !name) throw new Untranslatable(`resource ${arn} has no Warden equivalent`);
  if (/[*?]/.test(name)) throw new Untranslatable(`resource ${arn} uses a wildcard in its name (Cedar matches entities exactly)`);
  return entity;
}

function translatePrincipal(p: unknown): EntityRef | 'all' {
  if (p === '*' || (typeof p === 'object' && p !== null && (p as { AWS?: unknown }).AWS === '*')) return 'all';
  const aws = list((p as { AWS?: unknown } | null)?.AWS);
  if (!aws || aws.length !== 1) throw new Untranslatable('only a single AWS principal can be translated');
  const m = /^arn:aws:iam::[0-9]*:(user|role)\/(?:.*\/)?([^/]+)$/.exec(aws[0]!);
  if (!m) throw new Untranslatable(`principal ${aws[0]} has no Warden equivalent`);
  return m[1] === 'user' ? { type: 'User', id: m[2]! } : { type: 'Group', id: m[2]! };
}

function translateCondition(cond: unknown): string[] {
  if (cond === undefined) return [];
  if (typeof cond !== 'object' || cond === null) throw new Untranslatable('Condition must be an object');
  const out: string[] = [];
  for (const [operator, body] of Object.entries(cond as Record<string, unknown>)) {
    if (typeof body !== 'object' || body === null) throw new Untranslatable(`condition ${operator} must be an object`);
    for (const [key, raw] of Object.entries(body as Record<string, unknown>)) {
      const values = list(raw) ?? (typeof raw === 'boolean' ? [String(raw)] : undefined);
      if (!values || values.length === 0) throw new Untranslatable(`condition ${operator} ${key} has no string values`);
      const any = (parts: string[]): string => (parts.length === 1 ? parts[0]! : `(${parts.join(' || ')})`);
      const k = key.toLowerCase();
      if (k === 'aws:sourceip' && (operator === 'IpAddress' || operator === 'NotIpAddress')) {
        const inRange = any(values.map((v) => `context.sourceIp.isInRange(ip(${str(v)}))`));
        out.push(operator === 'IpAddress' ? inRange : `!${inRange}`);
      } else if (k === 'aws:requestedregion' && (operator === 'StringEquals' || operator === 'StringNotEquals')) {
        const eq = any(values.map((v) => `context.region == ${str(v)}`));
        out.push(operator === 'StringEquals' ? eq : `!${eq}`);
      } else if (k === 'aws:requestedregion' && operator === 'StringLike' && values.every((v) => !v.includes('?'))) {
        out.push(any(values.map((v) => `context.region like ${str(v)}`)));
      } else if (k === 'aws:multifactorauthpresent' && operator === 'Bool' && values.length === 1 && (values[0] === 'true' || values[0] === 'false')) {
        out.push(`context.mfa == ${values[0]}`);
      } else if (k === 'aws:currenttime' && (operator === 'DateLessThan' || operator === 'DateGreaterThan') && values.length === 1 && !Number.isNaN(Date.parse(values[0]!))) {
        out.push(`context.time ${operator === 'DateLessThan' ? '<' : '>'} ${Math.floor(Date.parse(values[0]!) / 1000)}`);
      } else {
        throw new Untranslatable(`condition ${operator} on ${key} has no Warden equivalent`);
      }
    }
  }
  return out;
}

/**
 * Translates an AWS IAM policy document (Effect/Action/Resource/Condition) into Cedar over
 * Warden's schema. A statement with any part that cannot be translated faithfully is left
 * out as a whole and reported: dropping a condition or a NotAction would change what it means.
 */
export function importIamPolicy(document: unknown, options: { principal?: EntityRef } = {}): IamImportResult {
  const doc = document as { Statement?: unknown } | null;
  const statements = doc && typeof doc === 'object' ? (Array.isArray(doc.Statement) ? doc.Statement : doc.Statement !== undefined ? [doc.Statement] : undefined) : undefined;
  if (!statements) throw new WardenError('WARDEN_POLICY_IAM_INVALID', 'an IAM policy document needs a Statement (object or array)');
  if (statements.length > MAX_STATEMENTS) throw new WardenError('WARDEN_POLICY_IAM_INVALID', `more than ${MAX_STATEMENTS} statements`);
  const blocks: string[] = [];
  const untranslated: IamImportResult['untranslated'] = [];
  const notes = new Set<string>();
  const usedIds = new Set<string>();
  statements.forEach((raw: Statement, i: number) => {
    const label = typeof raw?.Sid === 'string' && raw.Sid ? raw.Sid : `statement ${i + 1}`;
    try {
      if (typeof raw !== 'object' || raw === null) throw new Untranslatable('statement must be an object');
      if (raw.Effect !== 'Allow' && raw.Effect !== 'Deny') throw new Untranslatable('Effect must be Allow or Deny');
      if (raw.NotAction !== undefined) throw new Untranslatable('NotAction (everything except…) has no faithful Cedar translation over Warden actions');
      if (raw.NotResource !== undefined) throw new Untranslatable('NotResource has no faithful Cedar translation');
      if (raw.NotPrincipal !== undefined) throw new Untranslatable('NotPrincipal has no faithful Cedar translation');
      const actions = list(raw.Action);
      if (!actions) throw new Untranslatable('Action must be a string or a list of strings');
      const resources = list(raw.Resource);
      if (!resources) throw new Untranslatable('Resource must be a string or a list of strings');
      const wardenActions = translateActions(actions, notes);
      // Notes of a statement only count when it is translated.
      const statementNotes = new Set<string>();
      const wardenResources = resources.map((arn) => translateResource(arn, raw.Effect as 'Allow' | 'Deny', statementNotes));
      const principal = raw.Principal !== undefined ? translatePrincipal(raw.Principal) : (options.principal ?? 'all');
      const conditions = translateCondition(raw.Condition);
      let id = `iam-${label.replace(/[^A-Za-z0-9_.:@/-]/g, '-').slice(0, 100)}`;
      while (usedIds.has(id)) id += `-${i + 1}`;
      usedIds.add(id);
      const effect = raw.Effect === 'Allow' ? 'permit' : 'forbid';
      const principalScope = principal === 'all' ? 'principal' : `principal == ${lit(principal)}`;
      const actionScope =
        wardenActions === 'all' ? 'action' : wardenActions.length === 1 ? `action == Action::${JSON.stringify(wardenActions[0])}` : `action in [${wardenActions.map((a) => `Action::${JSON.stringify(a)}`).join(', ')}]`;
      const specific = wardenResources.filter((r): r is EntityRef => r !== 'all');
      let resourceScope = 'resource';
      if (!wardenResources.includes('all')) {
        if (specific.length === 1) resourceScope = `resource in ${lit(specific[0]!)}`;
        else conditions.unshift(`[${specific.map(lit).join(', ')}].contains(resource)`);
      }
      const when = conditions.length ? `\nwhen { ${conditions.join(' && ')} }` : '';
      for (const n of statementNotes) notes.add(n);
      blocks.push(`// from IAM ${commentText(`${label}: ${actions.join(', ')} on ${resources.join(', ')}`)}\n@id(${JSON.stringify(id)})\n${effect}(\n  ${principalScope},\n  ${actionScope},\n  ${resourceScope}\n)${when};`);
    } catch (err) {
      if (!(err instanceof Untranslatable)) throw err;
      untranslated.push({ statement: label, reason: `${err.message}; ${raw?.Effect === 'Deny' ? 'this Deny is NOT enforced: add an equivalent forbid by hand' : 'left out (access not granted)'}` });
    }
  });
  if (options.principal === undefined && statements.some((s: Statement) => s && s.Principal === undefined)) {
    notes.add('identity-based statements apply to whoever the policy is attached to: pass --principal to scope them, otherwise they apply to every principal');
  }
  const cedar = blocks.join('\n\n') + (blocks.length ? '\n' : '');
  const set = compilePolicySet(cedar); // never hand out text that does not parse
  return { cedar, policies: set.policies.length, untranslated, notes: [...notes] };
}
