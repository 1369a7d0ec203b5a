import { EventEmitter } from 'node:events';
import pg from 'pg';
import { CHANGES_CHANNEL, parseChangeNotice } from './changeNotices.js';

/** Names the listener's backend in pg_stat_activity (operators, and tests that end it). */
export const CHANGE_LISTENER_APPLICATION_NAME = 'warden-change-listener';

export interface ChangeListenerOptions {
  /** postgres://… (never logged: it may hold the password). */
  url: string;
  /** Reconnect delays: doubling from minMs, at most maxMs, with jitter. */
  backoff?: { minMs: number; maxMs: number };
  /**
   * A round trip this often: a connection that died without a FIN (a failover, a dropped NAT
   * entry) would otherwise look like a quiet channel, and notices would be missed silently.
   */
  pingMs?: number;
}

/**
 * One dedicated connection that LISTENs on the changes channel and reconnects with backoff.
 * Emits 'change' (ChangeKind, the sender's id or null) per notice, and 'resync' once LISTEN is in place, on the first
 * connect as on every reconnect: notices sent while not listening are lost, so the owner rereads
 * everything then. A notice of a kind this version does not know also emits 'resync' (a newer
 * replica's change: rereading everything is always safe). 'lost' (Error) when the connection drops.
 */
export class ChangeListener extends EventEmitter {
  private client: pg.Client | null = null;
  private stopped = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private readonly backoff: { minMs: number; maxMs: number };
  private readonly pingMs: number;
  listening = false;

  constructor(private readonly options: ChangeListenerOptions) {
    super();
    this.backoff = options.backoff ?? { minMs: 200, maxMs: 10_000 };
    this.pingMs = options.pingMs ?? 30_000;
  }

  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({
      connectionString: this.options.url,
      connectionTimeoutMillis: 5_000,
      query_timeout: 10_000,
      keepAlive: true,
      application_name: CHANGE_LISTENER_APPLICATION_NAME,
    });
    this.client = client;
    let dropped = false;
    const drop = (err: Error): void => {
      if (dropped) return;
      dropped = true;
      this.dropped(client, err);
    };
    client.on('error', drop);
    client.on('end', () => drop(new Error('connection ended')));
    client.on('notification', (msg) => {
      if (msg.channel !== CHANGES_CHANNEL) return;
      const notice = parseChangeNotice(msg.payload ?? '');
      if (notice) this.emit('change', notice.kind, notice.from);
      else this.emit('resync');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch (err) {
      drop(err as Error);
      return;
    }
    if (dropped || this.stopped) return;
    this.attempt = 0;
    this.listening = true;
    this.pingTimer = setInterval(() => void client.query('SELECT 1').catch((err: Error) => drop(err)), this.pingMs);
    this.pingTimer.unref();
    this.emit('resync');
  }

  private dropped(client: pg.Client, err: Error): void {
    if (this.client !== client) return;
    this.client = null;
    this.listening = false;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    void client.end().catch(() => undefined);
    if (this.stopped) return;
    this.emit('lost', err);
    const delay = Math.min(this.backoff.maxMs, this.backoff.minMs * 2 ** Math.min(this.attempt++, 10));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay * (0.5 + Math.random() / 2));
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.listening = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.retryTimer = null;
    this.pingTimer = null;
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }
}
