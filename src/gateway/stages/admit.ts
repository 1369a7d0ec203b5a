import { WardenError, type ErrorCode } from '../../errors/index.js';
import { admitModel } from '../../artifacts/index.js';
import type { RequestContext } from '../RequestContext.js';

/** Header a model server (or its sidecar) uses to report the manifest digest of the model it serves. */
export const MODEL_DIGEST_HEADER = 'x-warden-model-digest';

/**
 * Stage: deployment admission. Before forwarding, refuses revoked versions and unregistered models
 * where enforcement is on; once the upstream answers, its reported digest must match the serving
 * version's pinned digest, otherwise its output never reaches the client. Returns the pinned
 * digest a reported one was found equal to (as `sha256:<hex>`), else null.
 */
export function admit(ctx: RequestContext, reportedDigest?: string): string | null {
  const model = ctx.route?.model;
  if (!model || ctx.route?.kind === 'openai.models') return null;
  const r = admitModel(ctx.snapshot.admission, model, ctx.route?.version ?? undefined, reportedDigest);
  if (!r.ok) throw new WardenError(r.code as ErrorCode, r.message);
  // The pinned digest the reported one matched; null when nothing was compared (unregistered model).
  if (reportedDigest === undefined || r.digest === null) return null;
  const pinned = r.digest.toLowerCase();
  return pinned.startsWith('sha256:') ? pinned : `sha256:${pinned}`;
}

/** Whether admission would let a request for this model (its serving version) through now. */
export function isAdmissible(ctx: RequestContext, model: string): boolean {
  return admitModel(ctx.snapshot.admission, model, undefined, undefined).ok;
}

/** The version admission serves for a registered model (what an unversioned call reaches), else null. */
export function servingVersion(ctx: RequestContext, model: string): string | null {
  return ctx.snapshot.admission.models.get(model)?.serving?.version ?? null;
}
