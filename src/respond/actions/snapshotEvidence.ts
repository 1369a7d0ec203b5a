import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { sha256Hex, writeFileAtomic, ensurePrivateDir } from '../../crypto/index.js';
import { WardenError } from '../../errors/index.js';
import type { AuditLog } from '../../audit/index.js';
import type { Action, ActionContext } from '../Action.js';
import type { StepParams } from '../Runbook.js';

export interface EvidenceDeps {
  dataDir: string;
  audit: AuditLog;
  registry: Registry;
}

const MAX_RECORDS = 10_000;

function minutes(params: StepParams): number {
  const v = params.windowMinutes ?? 60;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 7 * 24 * 60) throw new WardenError('WARDEN_RESPOND_ACTION_PARAMS', 'snapshot-evidence: windowMinutes must be an integer from 1 to 10080');
  return v;
}

/**
 * snapshot-evidence: copies the audit slice of the incident window (with each entry's index and
 * leaf hash, so it can be proven against a checkpoint later) and the current metrics into
 * <dataDir>/evidence/<incident>/<time>/, with a manifest of SHA-256 digests. Written to a
 * temporary directory and renamed, so a snapshot is complete or absent.
 */
export function snapshotEvidenceAction(deps: EvidenceDeps): Action {
  const folderOf = (ctx: ActionContext) => join(deps.dataDir, 'evidence', ctx.incidentId ?? 'manual');
  return {
    name: 'snapshot-evidence',
    description: 'Save the audit slice and metrics of the incident window as evidence.',
    readOnly: true,
    async plan(params, ctx) {
      return { description: `save the last ${minutes(params)} min of audit records and current metrics to ${folderOf(ctx)}`, alreadyDone: false };
    },
    async apply(params, ctx) {
      const window = minutes(params);
      await deps.audit.flush();
      const entries = await deps.audit.query({ since: new Date(Date.now() - window * 60_000), limit: MAX_RECORDS });
      const auditText = entries
        .slice()
        .reverse()
        .map((e) => JSON.stringify({ index: e.index, leafHash: e.leafHash, record: e.record }))
        .join('\n');
      const metricsText = await deps.registry.metrics();
      const checkpoint = deps.audit.latestCheckpoint();
      const root = folderOf(ctx);
      ensurePrivateDir(join(deps.dataDir, 'evidence'));
      ensurePrivateDir(root);
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const tmp = join(root, `.tmp-${randomBytes(6).toString('hex')}`);
      const final = join(root, stamp);
      mkdirSync(tmp, { mode: 0o700 });
      try {
        const files: Record<string, string> = { 'audit.jsonl': auditText + (auditText ? '\n' : ''), 'metrics.txt': metricsText, 'checkpoint.json': JSON.stringify(checkpoint, null, 2) + '\n' };
        for (const [name, text] of Object.entries(files)) writeFileAtomic(join(tmp, name), text, 0o600);
        const manifest = {
          incident: ctx.incidentId,
          takenAt: new Date().toISOString(),
          takenBy: ctx.actor,
          windowMinutes: window,
          auditRecords: entries.length,
          files: Object.fromEntries(Object.entries(files).map(([n, t]) => [n, { sha256: sha256Hex(t), bytes: Buffer.byteLength(t) }])),
        };
        writeFileAtomic(join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n', 0o600);
        if (existsSync(final)) throw new WardenError('WARDEN_CONFLICT', 'evidence snapshot already exists');
        renameSync(tmp, final);
      } catch (err) {
        rmSync(tmp, { recursive: true, force: true });
        throw err;
      }
      return { changed: true, summary: `saved ${entries.length} audit records and metrics to ${final}`, details: { path: final, auditRecords: entries.length } };
    },
  };
}
