import type { FastifyRequest } from 'fastify';
import { WardenError } from '../errors/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Logger } from '../observe/index.js';
import { adminPrincipal } from './adminAuth.js';

export interface AdminChangeIntent {
  /** e.g. `keys.create`; the attempt and its outcome share it, so one `--action` query finds both. */
  action: string;
  resource?: string;
  /** Secret-free arguments of the change, known before it is made. */
  details?: Record<string, unknown>;
  /**
   * The change only takes access away (a revocation): it goes ahead even when its attempt cannot
   * be recorded, so an operator can still revoke a stolen credential during an audit outage.
   * Refusing it would leave the credential working, which is worse than a change without a record.
   */
  takesAccessAway?: boolean;
}

export interface AdminChangeOutcome {
  resource?: string;
  /** What the change produced (ids, versions), merged into the intent's details. */
  details?: Record<string, unknown>;
}

/**
 * Makes an admin change only once its record is durable: an `outcome: "attempted"` record is
 * appended and awaited first (a failed append refuses the change with 503
 * WARDEN_AUDIT_WRITE_FAILED and nothing changes), then the change runs, then an
 * `outcome: "committed"` (or `"failed"`, decision deny, with the error code) record follows.
 * A crash between the two leaves an attempt on record, never a change without a record.
 * Except for `takesAccessAway` changes: their failed attempt append is logged (the log counts the
 * record among those lost in its `audit.write.failed` event) and the change is made anyway.
 *
 * Why not one record in the change's own transaction (an outbox): several repositories and the
 * CA commit outside one transaction (files, their own transactions), so the record is ordered
 * before the commit instead.
 */
export async function auditedChange<T>(
  ctx: { audit: AuditLog; logger: Logger },
  request: FastifyRequest,
  intent: AdminChangeIntent,
  change: () => Promise<T>,
  outcome: (result: T) => AdminChangeOutcome = () => ({}),
): Promise<T> {
  const base = { kind: 'admin' as const, principal: adminPrincipal(request), action: intent.action };
  if (ctx.audit.failingClosed && !intent.takesAccessAway) throw refused(null);
  try {
    await ctx.audit.append({ ts: new Date().toISOString(), ...base, resource: intent.resource, decision: 'allow', details: { ...intent.details, outcome: 'attempted' } });
  } catch (err) {
    if (!intent.takesAccessAway) throw refused(err);
    ctx.logger.error({ err: codeOf(err), action: intent.action }, 'audit append of an access-removing admin change failed; making the change anyway');
  }
  let result: T;
  try {
    result = await change();
  } catch (err) {
    const code = err instanceof WardenError ? err.code : 'WARDEN_INTERNAL';
    await ctx.audit
      .append({ ts: new Date().toISOString(), ...base, resource: intent.resource, decision: 'deny', code, details: { ...intent.details, outcome: 'failed' } })
      .catch((auditErr: unknown) => ctx.logger.error({ err: codeOf(auditErr), action: intent.action }, 'audit append of a failed admin change failed'));
    throw err;
  }
  const done = outcome(result);
  try {
    await ctx.audit.append({ ts: new Date().toISOString(), ...base, resource: done.resource ?? intent.resource, decision: 'allow', details: { ...intent.details, ...done.details, outcome: 'committed' } });
  } catch (err) {
    // The change is committed and its attempt is durable: answering with an error now would
    // hide a change that happened (and lose a once-shown secret). The log fails closed and its
    // `audit.write.failed` event counts this record among those lost.
    ctx.logger.error({ err: codeOf(err), action: intent.action }, 'audit append of a committed admin change failed; its attempt record stands');
  }
  return result;
}

function refused(cause: unknown): WardenError {
  return new WardenError('WARDEN_AUDIT_WRITE_FAILED', 'the audit log cannot record this admin change now; nothing was changed', cause === null ? undefined : { cause });
}

function codeOf(err: unknown): string {
  return (err as { code?: string })?.code ?? 'error';
}
