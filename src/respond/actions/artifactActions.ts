import { WardenError } from '../../errors/index.js';
import type { Database } from '../../store/index.js';
import { stringParam, type Action } from '../Action.js';

/**
 * The slice of the artifact registry incident response needs (src/artifacts ArtifactRegistry
 * satisfies it structurally); injected so the control plane wires the real one.
 */
export interface ModelRegistryPort {
  show(name: string): Promise<{ name: string; kind: string; versions: { version: string; stage: string; revoked: boolean }[] }>;
  revoke(name: string, version: string, reason: string): Promise<unknown>;
  rollback(name: string): Promise<{ from: string | null; to: string }>;
  blastRadius(datasetRef: string): Promise<{
    dataset: string;
    runs: { key: string }[];
    models: { key: string; name: string; version: string; stage: string | null; revoked: boolean }[];
    deployments: { name: string; servingVersion: string | null; servingAffected: boolean }[];
  }>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const REF = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,255}$/;

function need(registry: ModelRegistryPort | undefined, action: string): ModelRegistryPort {
  if (!registry) throw new WardenError('WARDEN_RESPOND_ACTION_UNAVAILABLE', `${action}: this control plane has no artifact registry configured`);
  return registry;
}

async function servingOf(registry: ModelRegistryPort, model: string): Promise<string | null> {
  let shown;
  try {
    shown = await registry.show(model);
  } catch (cause) {
    throw new WardenError('WARDEN_RESPOND_PRECONDITION', `no model ${JSON.stringify(model)} in the registry`, { cause });
  }
  return shown.versions.find((v) => v.stage === 'serving')?.version ?? null;
}

/**
 * rollback-model: revokes the bad serving version (so it can never be promoted again) and
 * moves serving to the last approved, unrevoked version. Idempotent with `version`: when that
 * version no longer serves, nothing happens. Not undoable: re-serving a suspect model needs a
 * fresh approval.
 */
export function rollbackModelAction(deps: { registry?: ModelRegistryPort; servingChanged?: () => void }): Action {
  return {
    name: 'rollback-model',
    description: 'Roll a model back to its last approved version (revoking the bad one).',
    async plan(params) {
      const registry = need(deps.registry, 'rollback-model');
      const model = stringParam(params, 'model', 'rollback-model', NAME);
      const bad = typeof params.version === 'string' ? params.version : null;
      const serving = await servingOf(registry, model);
      const shown = await registry.show(model);
      const targets = shown.versions.filter((v) => v.stage === 'approved' && !v.revoked && v.version !== (bad ?? serving));
      const alreadyDone = bad !== null && serving !== bad;
      if (!alreadyDone && targets.length === 0) throw new WardenError('WARDEN_RESPOND_PRECONDITION', `rollback-model: ${model} has no earlier approved, unrevoked version`);
      return { description: `roll ${model} back from ${bad ?? serving ?? '(none)'} to its last approved version`, alreadyDone };
    },
    async apply(params, ctx) {
      const registry = need(deps.registry, 'rollback-model');
      const model = stringParam(params, 'model', 'rollback-model', NAME);
      const serving = await servingOf(registry, model);
      const bad = typeof params.version === 'string' ? params.version : serving;
      if (bad === null || serving !== bad) return { changed: false, summary: `${model} no longer serves ${bad ?? 'anything suspect'}`, details: { model, serving } };
      await registry.revoke(model, bad, `incident ${ctx.incidentId ?? 'runbook'}`);
      const r = await registry.rollback(model);
      // PEPs admit models by digest from the snapshot: push the new serving version now.
      deps.servingChanged?.();
      return { changed: true, summary: `${model} rolled back from ${bad} to ${r.to}`, details: { model, from: bad, to: r.to } };
    },
  };
}

/** freeze-dataset: records the dataset as frozen (the registry refuses new lineage from it). Undo unfreezes. */
export function freezeDatasetAction(deps: { db: Database }): Action {
  const frozen = async (name: string) => (await deps.db.query('SELECT 1 FROM respond_frozen_datasets WHERE name = $1', [name])).rows.length > 0;
  return {
    name: 'freeze-dataset',
    description: 'Freeze a dataset so no new model can be trained or registered from it.',
    async plan(params) {
      const dataset = stringParam(params, 'dataset', 'freeze-dataset', REF);
      return { description: `freeze dataset ${dataset}`, alreadyDone: await frozen(dataset) };
    },
    async apply(params, ctx) {
      const dataset = stringParam(params, 'dataset', 'freeze-dataset', REF);
      const r = await deps.db.query(
        'INSERT INTO respond_frozen_datasets (name, frozen_at, frozen_by, incident_id) VALUES ($1, now(), $2, $3) ON CONFLICT (name) DO NOTHING RETURNING name',
        [dataset, ctx.actor, ctx.incidentId],
      );
      return r.rows.length ? { changed: true, summary: `froze dataset ${dataset}`, details: { dataset } } : { changed: false, summary: `${dataset} was already frozen`, details: { dataset } };
    },
    async undo(params) {
      await deps.db.query('DELETE FROM respond_frozen_datasets WHERE name = $1', [stringParam(params, 'dataset', 'freeze-dataset')]);
    },
  };
}

export async function isDatasetFrozen(db: Database, name: string): Promise<boolean> {
  return (await db.query('SELECT 1 FROM respond_frozen_datasets WHERE name = $1', [name])).rows.length > 0;
}

/** blast-radius: lists every run, model version and deployment derived from a dataset (read-only, recorded). */
export function blastRadiusAction(deps: { registry?: ModelRegistryPort }): Action {
  return {
    name: 'blast-radius',
    description: 'List the runs, model versions and deployments derived from a dataset.',
    readOnly: true,
    async plan(params) {
      need(deps.registry, 'blast-radius');
      return { description: `list what was derived from ${stringParam(params, 'dataset', 'blast-radius', REF)}`, alreadyDone: false };
    },
    async apply(params) {
      const dataset = stringParam(params, 'dataset', 'blast-radius', REF);
      const r = await need(deps.registry, 'blast-radius').blastRadius(dataset);
      const affected = r.deployments.filter((d) => d.servingAffected).map((d) => `${d.name}@${d.servingVersion}`);
      return {
        changed: true,
        summary: `${r.models.length} model version(s), ${r.runs.length} run(s); serving affected: ${affected.join(', ') || 'none'}`,
        details: { dataset: r.dataset, runs: r.runs.map((x) => x.key), models: r.models.map((m) => m.key), servingAffected: affected },
      };
    },
  };
}

/** rollback-affected-models: rolls back every deployment whose serving version derives from a dataset. */
export function rollbackAffectedModelsAction(deps: { registry?: ModelRegistryPort; servingChanged?: () => void }): Action {
  const rollback = rollbackModelAction(deps);
  return {
    name: 'rollback-affected-models',
    description: 'Roll back every model whose serving version was trained on a dataset.',
    async plan(params, ctx) {
      const dataset = stringParam(params, 'dataset', 'rollback-affected-models', REF);
      const r = await need(deps.registry, 'rollback-affected-models').blastRadius(dataset);
      const affected = r.deployments.filter((d) => d.servingAffected && d.servingVersion);
      for (const d of affected) await rollback.plan({ model: d.name, version: d.servingVersion! }, ctx);
      return { description: `roll back ${affected.map((d) => `${d.name}@${d.servingVersion}`).join(', ') || 'nothing'} (derived from ${dataset})`, alreadyDone: affected.length === 0 };
    },
    async apply(params, ctx) {
      const dataset = stringParam(params, 'dataset', 'rollback-affected-models', REF);
      const r = await need(deps.registry, 'rollback-affected-models').blastRadius(dataset);
      const done: string[] = [];
      for (const d of r.deployments.filter((x) => x.servingAffected && x.servingVersion)) {
        const res = await rollback.apply({ model: d.name, version: d.servingVersion! }, ctx);
        if (res.changed) done.push(`${d.name}: ${res.details.from} → ${res.details.to}`);
      }
      return done.length ? { changed: true, summary: `rolled back ${done.join('; ')}`, details: { dataset, rolledBack: done } } : { changed: false, summary: 'no serving model derives from the dataset', details: { dataset } };
    },
  };
}
