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
  /** The version `rollback` would serve now, by the same promotion checks (null: none); changes nothing. */
  rollbackTarget(name: string): Promise<string | null>;
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
 * rollback-model: moves serving to the last approved, unrevoked version that passes the promotion
 * checks now, then revokes the bad version (so it can never be promoted again). Idempotent with `version`: when that
 * version no longer serves, nothing happens. Not undoable: re-serving a suspect model needs a
 * fresh approval.
 */
export function rollbackModelAction(deps: { registry?: ModelRegistryPort; servingChanged?: (changedBy?: object) => void }): Action {
  return {
    name: 'rollback-model',
    description: 'Roll a model back to its last approved version (revoking the bad one).',
    async plan(params) {
      const registry = need(deps.registry, 'rollback-model');
      const model = stringParam(params, 'model', 'rollback-model', NAME);
      const bad = typeof params.version === 'string' ? params.version : null;
      const serving = await servingOf(registry, model);
      const alreadyDone = bad !== null && serving !== bad;
      if (alreadyDone) return { description: `roll ${model} back from ${bad} to its last approved version`, alreadyDone };
      // The registry's own choice, by the promotion checks the rollback will run: an approved
      // version that fails them now (frozen dataset, untrusted signer) is no target.
      const target = await registry.rollbackTarget(model);
      if (target === null || target === (bad ?? serving)) throw new WardenError('WARDEN_RESPOND_PRECONDITION', `rollback-model: ${model} has no earlier approved, unrevoked version that passes the promotion checks`);
      return { description: `roll ${model} back from ${bad ?? serving ?? '(none)'} to ${target}`, alreadyDone };
    },
    async apply(params, ctx) {
      const registry = need(deps.registry, 'rollback-model');
      const model = stringParam(params, 'model', 'rollback-model', NAME);
      const serving = await servingOf(registry, model);
      const bad = typeof params.version === 'string' ? params.version : serving;
      if (bad === null || serving !== bad) return { changed: false, summary: `${model} no longer serves ${bad ?? 'anything suspect'}`, details: { model, serving } };
      // Rollback first: when no version passes the checks, the bad one keeps serving (and the step
      // fails) rather than the model going offline with nothing to undo. It leaves serving then
      // (retired), and its revocation keeps it from ever being promoted again.
      let r;
      try {
        r = await registry.rollback(model);
        await registry.revoke(model, bad, `incident ${ctx.incidentId ?? 'runbook'}`);
      } finally {
        // PEPs admit models by digest from the snapshot: push the new serving version (and the
        // revocation) now, even when the revocation after it failed.
        deps.servingChanged?.(ctx.changedBy);
      }
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

/**
 * The artifact registry's freeze check: which refs are frozen. A freeze of `NAME` covers every
 * version, a freeze of `NAME@VERSION` that version; `dataset:`-prefixed freezes count the same.
 */
export function frozenDatasetCheck(db: Database): (refs: readonly { name: string; version?: string | undefined }[]) => Promise<string[]> {
  return async (refs) => {
    const keys = (r: { name: string; version?: string | undefined }) => {
      const names = [r.name, ...(r.version ? [`${r.name}@${r.version}`] : [])];
      return [...names, ...names.map((n) => `dataset:${n}`)];
    };
    const all = [...new Set(refs.flatMap(keys))];
    if (all.length === 0) return [];
    const frozen = new Set((await db.query<{ name: string }>('SELECT name FROM respond_frozen_datasets WHERE name = ANY($1::text[])', [all])).rows.map((r) => r.name));
    return [...new Set(refs.filter((r) => keys(r).some((k) => frozen.has(k))).map((r) => (r.version ? `${r.name}@${r.version}` : r.name)))];
  };
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

/**
 * rollback-affected-models: everything trained on a poisoned dataset is poisoned too. Revokes
 * every unrevoked model version derived from the dataset (so none can be promoted or rolled
 * back to later), then moves each deployment that served one of them to its last approved
 * version not derived from it; a model with no such version is left with nothing serving (its
 * affected version retired), and gateways refuse it with WARDEN_ADMISSION_NOT_SERVING.
 * Not undoable: re-serving a suspect model needs a new, clean version.
 */
export function rollbackAffectedModelsAction(deps: { registry?: ModelRegistryPort; servingChanged?: (changedBy?: object) => void }): Action {
  const affectedOf = async (dataset: string) => {
    const r = await need(deps.registry, 'rollback-affected-models').blastRadius(dataset);
    return { toRevoke: r.models.filter((m) => !m.revoked), deployments: r.deployments.filter((d) => d.servingAffected && d.servingVersion) };
  };
  return {
    name: 'rollback-affected-models',
    description: 'Revoke every model version trained on a dataset and roll each affected deployment back to its last clean approved version.',
    async plan(params) {
      const dataset = stringParam(params, 'dataset', 'rollback-affected-models', REF);
      const a = await affectedOf(dataset);
      const serving = a.deployments.map((d) => `${d.name}@${d.servingVersion}`).join(', ') || 'none';
      return { description: `revoke ${a.toRevoke.map((m) => `${m.name}@${m.version}`).join(', ') || 'nothing'} and roll back serving ${serving} (derived from ${dataset})`, alreadyDone: a.toRevoke.length === 0 && a.deployments.length === 0 };
    },
    async apply(params, ctx) {
      const registry = need(deps.registry, 'rollback-affected-models');
      const dataset = stringParam(params, 'dataset', 'rollback-affected-models', REF);
      const a = await affectedOf(dataset);
      const reason = `derived from poisoned dataset ${dataset} (incident ${ctx.incidentId ?? 'runbook'})`;
      const rolledBack: { model: string; from: string; to: string | null }[] = [];
      try {
        for (const m of a.toRevoke) await registry.revoke(m.name, m.version, reason);
        for (const d of a.deployments) {
          const from = `${d.name}@${d.servingVersion}`;
          try {
            const r = await registry.rollback(d.name);
            rolledBack.push({ model: d.name, from, to: r.to });
          } catch (err) {
            if ((err as { code?: string }).code !== 'WARDEN_ARTIFACT_NO_ROLLBACK_TARGET') throw err;
            rolledBack.push({ model: d.name, from, to: null });
          }
        }
      } finally {
        // Whatever was revoked or rolled back before a failure is pushed to PEPs all the same.
        if (a.toRevoke.length > 0 || rolledBack.length > 0) deps.servingChanged?.(ctx.changedBy);
      }
      if (a.toRevoke.length === 0 && rolledBack.length === 0) return { changed: false, summary: 'no model version derives from the dataset', details: { dataset, revoked: [], rolledBack: [] } };
      const moves = rolledBack.map((x) => `${x.from} → ${x.to ?? 'nothing serving (retired)'}`);
      return {
        changed: true,
        summary: `revoked ${a.toRevoke.length} model version(s)${moves.length ? `; rolled back ${moves.join('; ')}` : '; no serving version was affected'}`,
        details: { dataset, revoked: a.toRevoke.map((m) => `${m.name}@${m.version}`), rolledBack },
      };
    },
  };
}
