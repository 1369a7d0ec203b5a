import type { Queryable } from '../store/index.js';
import type { Logger } from '../observe/index.js';

/** An API key id (`key_` + 16 hex), as gateways report it for key-authenticated requests. */
const KEY_ID = /^key_[0-9a-f]{16}$/;

/** How often the keys seen since the last write get their `last_used_at` (one UPDATE per interval, not per request). */
export const KEY_USAGE_FLUSH_MS = 30_000;

/**
 * Keeps `api_keys.last_used_at` current from the gateways' decisions (in-process and remote
 * gateways both report them on the 'gateway.decision' event), so `warden keys list` shows which
 * keys are in use and which are stale enough to revoke: the time of the key's latest request (a
 * remote gateway's record time, so records replayed after an outage do not make a key look just
 * used), written once per flush interval.
 */
export class KeyUsageRecorder {
  /** Key id → epoch ms of its latest request seen since the last write. */
  private seen = new Map<string, number>();
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
   * to look like a key id does not make that key look in use). `at`: when the request was made
   * (absent: now).
   */
  readonly onDecision = (ev: { principalId: string | null; authn: string | null; at?: number }): void => {
    if (ev.authn !== 'api-key' || ev.principalId === null) return;
    const at = ev.at ?? Date.now();
    const prev = this.seen.get(ev.principalId);
    // A key seen since the last flush (most requests' key) needs no second look at its id.
    if (prev !== undefined) {
      if (at > prev) this.seen.set(ev.principalId, at);
    } else if (KEY_ID.test(ev.principalId) && this.seen.size < 100_000) this.seen.set(ev.principalId, at);
  };

  async flush(now = new Date()): Promise<void> {
    if (this.seen.size === 0) return;
    const seen = this.seen;
    this.seen = new Map();
    // Never in the future (a remote gateway's clock), never earlier than what is recorded.
    const times = [...seen.values()].map((at) => new Date(Math.min(at, now.getTime())));
    try {
      await this.db.query(
        'UPDATE api_keys AS k SET last_used_at = GREATEST(k.last_used_at, u.at) FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at) WHERE k.id = u.id',
        [[...seen.keys()], times],
      );
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
