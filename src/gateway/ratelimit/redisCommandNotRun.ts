/**
 * Error prefixes with which Redis refuses a command without running it (loading its data set,
 * a replica or a cut-off master, another script busy, writes stopped). A script refused at its
 * first write stops before writing anything, so none of them leaves a correction half applied.
 */
const REFUSED = /^(LOADING|READONLY|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN|MISCONF|OOM|NOREPLICAS)\b/;

/** ioredis with enableOfflineQueue: false rejects at once, before writing, when not connected. */
const NOT_WRITTEN = "Stream isn't writeable and enableOfflineQueue options is false";

/**
 * Whether a failed Redis command certainly did not run, so sending it again cannot apply it
 * twice. Anything else is ambiguous: a command that timed out (`commandTimeout`) or whose
 * connection dropped before the reply was written and may have run, or may still run once a
 * stalled Redis catches up.
 */
export function redisCommandNotRun(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.message === NOT_WRITTEN) return true;
  return err.name === 'ReplyError' && REFUSED.test(err.message);
}
