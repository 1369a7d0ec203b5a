import { WardenError } from '../errors/index.js';
import { cedarWasm, type SchemaJson } from './cedarWasm.js';
import { describeCedarErrors, type ParsedPolicy } from './parsePolicySet.js';
import type { CedarEntityJson } from './cedar/EntityStore.js';

export interface LoadedSchema {
  text: string;
  json: SchemaJson<string>;
  /** Action entities with their `memberOf` groups: the action hierarchy `action in …` uses. */
  actionEntities: CedarEntityJson[];
}

/** Parses a schema in Cedar (`.cedarschema`) or JSON form with the reference parser. */
export function loadSchema(text: string): LoadedSchema {
  let input: string | SchemaJson<string> = text;
  if (text.trimStart().startsWith('{')) {
    try {
      input = JSON.parse(text) as SchemaJson<string>;
    } catch (cause) {
      throw new WardenError('WARDEN_POLICY_SCHEMA_INVALID', `schema is not valid JSON: ${(cause as Error).message}`);
    }
  }
  const r = cedarWasm.schemaToJson(input);
  if (r.type === 'failure') throw new WardenError('WARDEN_POLICY_SCHEMA_INVALID', `Cedar schema error: ${describeCedarErrors(r.errors, text)}`);
  return { text, json: r.json, actionEntities: actionEntitiesOf(r.json) };
}

function actionEntitiesOf(schema: SchemaJson<string>): CedarEntityJson[] {
  const out: CedarEntityJson[] = [];
  for (const [ns, def] of Object.entries(schema)) {
    const actionType = ns ? `${ns}::Action` : 'Action';
    for (const [name, action] of Object.entries(def.actions ?? {})) {
      out.push({
        uid: { type: actionType, id: name },
        attrs: {},
        parents: (action.memberOf ?? []).map((m) => ({ type: m.type ? (m.type.includes('::') || !ns ? m.type : `${ns}::${m.type}`) : actionType, id: m.id })),
      });
    }
  }
  return out;
}

/** Strict validation of every policy against the schema (the Cedar validator). */
export function validatePolicies(schema: LoadedSchema, policies: readonly ParsedPolicy[]): void {
  const errors = schemaViolations(schema, policies);
  if (errors.length > 0) {
    const shown = errors.slice(0, 5).map((e) => `${e.policyId}: ${e.message}`);
    if (errors.length > 5) shown.push(`… and ${errors.length - 5} more`);
    throw new WardenError('WARDEN_POLICY_VALIDATION_FAILED', `policies do not match the schema: ${shown.join('; ')}`);
  }
}

/** Each policy that does not match the schema (strict mode), with Cedar's reason; empty when all do. */
export function schemaViolations(schema: LoadedSchema, policies: readonly ParsedPolicy[]): { policyId: string; message: string }[] {
  const staticPolicies = Object.fromEntries(policies.map((p) => [p.id, p.text]));
  const r = cedarWasm.validate({ schema: schema.json, policies: { staticPolicies }, validationSettings: { mode: 'strict' } });
  if (r.type === 'failure') throw new WardenError('WARDEN_POLICY_VALIDATION_FAILED', `validation failed: ${describeCedarErrors(r.errors)}`);
  return r.validationErrors.map((e) => ({ policyId: e.policyId, message: e.error.message }));
}

/** Entity data must match the schema too (attribute types, allowed parents). */
export function validateEntities(schema: LoadedSchema, entities: readonly CedarEntityJson[]): void {
  if (entities.length === 0) return;
  // Omitted attrs/parents mean "none" (as the compiled evaluator reads them); Cedar's parser wants them spelled out.
  const spelled = entities.map((e) => ({ ...e, attrs: e.attrs ?? {}, parents: e.parents ?? [] }));
  const r = cedarWasm.checkParseEntities({ entities: spelled as never, schema: schema.json });
  if (r.type === 'failure') throw new WardenError('WARDEN_POLICY_ENTITIES_INVALID', `entities do not match the schema: ${describeCedarErrors(r.errors)}`);
}
