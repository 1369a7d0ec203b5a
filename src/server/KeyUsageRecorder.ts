import type { Queryable } from '../store/index.js';
import type { Logger } from '../observe/index.js';

/** An API key id (`key_` + 16 hex), as gateways report it for key-authenticated requests. */
const KEY_ID = /^key_[0-9a-f]{16}$/;

/** How often the keys seen since the last write get their `last_used_at` (one UPDATE per interval, not per request). */
export const KEY_USAGE_FLUSH_MS = 30_000;

/**
 * Keeps `api_keys.last_used_at` current from the gateways' decisions (in-process and remote
 * gateways both report them on the 'gateway.decision' event), so `warden keys list` shows which
 * keys are in use and which are stale enough to revoke. Accurate to the flush interval.
 */
export class KeyUsageRecorder {
  private seen = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly db: Queryable,
    private readonly logger: Pick<Logger, 'warn'>,
    flushMs = KEY_USAGE_FLUSH_MS,
  ) {
    this.timer = setInterval(() => void this.flush(), flushMs);
    this.timer.unref();
  }

  /**
   * One gateway decision: counted when an API key authenticated it (a JWT whose subject happens
   * to look like a key id does not make that key look in use).
   */
  readonly onDecision = (ev: { principalId: string | null; authn: string | null }): void => {
    // A key seen since the last flush (most requests' key) needs no second look at its id.
    if (ev.authn !== 'api-key' || ev.principalId === null || this.seen.has(ev.principalId)) return;
    if (KEY_ID.test(ev.principalId) && this.seen.size < 100_000) this.seen.add(ev.principalId);
  };

  async flush(now = new Date()): Promise<void> {
    if (this.seen.size === 0) return;
    const ids = [...this.seen];
    this.seen = new Set();
    try {
      await this.db.query('UPDATE api_keys SET last_used_at = $2 WHERE id = ANY($1::text[])', [ids, now]);
    } catch (err) {
      // Bookkeeping only: a lost update is written with the next use.
      this.logger.warn({ err: (err as Error).message }, 'could not record API key use');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
