/**
 * Error prefixes with which Redis refuses a command without running it (loading its data set,
 * a replica or a cut-off master, another script busy, writes stopped). A script refused at its
 * first write stops before writing anything, so none of them leaves a correction half applied.
 */
const REFUSED = /^(LOADING|READONLY|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN|MISCONF|OOM|NOREPLICAS)\b/;

/** ioredis with enableOfflineQueue: false rejects at once, before writing, when not connected. */
const NOT_WRITTEN = "Stream isn't writeable and enableOfflineQueue options is false";

/**
 * What a failed Redis command did:
 * - `not-run`: certainly nothing (never written, or refused by Redis): safe to send again;
 * - `failed`: Redis ran it and answered with an error (a key of another type, a script error):
 *   Redis is up, and the same command would fail the same way;
 * - `unknown`: it may have run, or may still run once a stalled Redis catches up (a timeout
 *   after it was written, a connection lost before the reply).
 */
export function classifyRedisFailure(err: unknown): 'not-run' | 'failed' | 'unknown' {
  if (!(err instanceof Error)) return 'unknown';
  if (err.message === NOT_WRITTEN) return 'not-run';
  if (err.name !== 'ReplyError') return 'unknown';
  return REFUSED.test(err.message) ? 'not-run' : 'failed';
}
