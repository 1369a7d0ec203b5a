import { Agent, request } from 'undici';
import { controlPlaneConnect, type ControlPlaneRoots } from '../identity/controlPlaneIdentity.js';
import type { Logger } from '../observe/index.js';
import type { SnapshotHolder } from './PepSnapshot.js';
import { snapshotFromWire, type SnapshotWire } from './snapshotWire.js';

export interface SnapshotSubscriberOptions {
  /** Control-plane admin API base URL. */
  url: string;
  token: string;
  caPem?: ControlPlaneRoots;
  /** This PEP's name, reported with the version it enforces. */
  name: string;
  holder: SnapshotHolder;
  logger: Logger;
  /** Longest silence on the stream before it is replaced (default SNAPSHOT_STREAM_IDLE_MS; tests). */
  idleTimeoutMs?: number;
}

const MAX_EVENT_BYTES = 64 * 1024 * 1024;
/**
 * The control plane sends a comment every 15 s; a stream silent for this long is dead (a
 * half-open connection, a stuck proxy) and is replaced, so revocations keep arriving.
 */
export const SNAPSHOT_STREAM_IDLE_MS = 45_000;
const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 10_000;

/**
 * Keeps a remote PEP's snapshot current over the control plane's SSE stream, reconnecting with
 * capped exponential backoff. The holder keeps the last snapshot while disconnected; the pipeline
 * fails closed once that snapshot's TTL has passed.
 */
export class SnapshotSubscriber {
  private readonly agent: Agent;
  private stopped = false;
  private abort: AbortController | null = null;
  private firstResolve: (() => void) | null = null;
  readonly firstSnapshot: Promise<void>;

  constructor(private readonly o: SnapshotSubscriberOptions) {
    this.agent = new Agent({ connect: controlPlaneConnect(o.caPem), bodyTimeout: o.idleTimeoutMs ?? SNAPSHOT_STREAM_IDLE_MS });
    this.firstSnapshot = new Promise((r) => (this.firstResolve = r));
  }

  start(): void {
    void this.loop();
  }

  private async loop(): Promise<void> {
    let backoff = MIN_BACKOFF_MS;
    while (!this.stopped) {
      const received = { snapshot: false };
      try {
        await this.connectOnce(received);
      } catch (err) {
        if (this.stopped) return;
        // A connection that delivered a snapshot was healthy: start the backoff again from the bottom.
        if (received.snapshot) backoff = MIN_BACKOFF_MS;
        this.o.logger.warn({ err: (err as Error).message, retryInMs: backoff }, 'snapshot stream disconnected');
      }
      if (this.stopped) return;
      // Full jitter: many gateways cut off together do not reconnect together.
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * backoff)));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  private async connectOnce(received: { snapshot: boolean }): Promise<void> {
    this.abort = new AbortController();
    const res = await request(`${this.o.url}/api/v1/pep/stream?name=${encodeURIComponent(this.o.name)}`, {
      dispatcher: this.agent,
      headers: { authorization: `Bearer ${this.o.token}`, accept: 'text/event-stream' },
      signal: this.abort.signal,
    });
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw new Error(`control plane answered ${res.statusCode}: ${text.slice(0, 200)}`);
    }
    let buffer = '';
    for await (const chunk of res.body) {
      buffer += (chunk as Buffer).toString('utf8');
      if (buffer.length > MAX_EVENT_BYTES) throw new Error('snapshot event too large');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (this.handleEvent(event, !received.snapshot)) received.snapshot = true;
      }
    }
    throw new Error('stream ended');
  }

  /** Installs a snapshot event; returns whether the event was a snapshot that compiled. */
  private handleEvent(event: string, firstOfStream: boolean): boolean {
    let name = 'message';
    const data: string[] = [];
    for (const line of event.split('\n')) {
      if (line.startsWith('event: ')) name = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (name !== 'snapshot' || data.length === 0) return false;
    try {
      const wire = JSON.parse(data.join('\n')) as SnapshotWire;
      const snap = snapshotFromWire(wire);
      // Expiry on this machine's clock: what is left of the snapshot's life when the control plane
      // sent it, counted from receipt, so a skewed clock neither fails a fresh snapshot nor keeps
      // an old one alive (an old snapshot re-sent by a control plane that cannot build new ones
      // arrives expired). Without sentAt (an older control plane), its own clock's expiry.
      const left = typeof wire.sentAt === 'number' ? wire.expiresAt - wire.sentAt : wire.expiresAt - Date.now();
      snap.expiresAt = Date.now() + Math.min(Math.max(0, left), wire.expiresAt - wire.issuedAt);
      if (firstOfStream ? this.o.holder.replace(snap) : this.o.holder.update(snap)) {
        this.o.logger.info({ version: snap.version, policyVersion: snap.policyVersion }, 'snapshot installed');
        void this.report(snap.version, snap.policyVersion);
      }
      this.firstResolve?.();
      this.firstResolve = null;
      return true;
    } catch (err) {
      // A snapshot that does not compile is refused; the previous one stays in force.
      this.o.logger.error({ err: (err as Error).message }, 'snapshot refused');
      return false;
    }
  }

  private async report(snapshotVersion: number, policyVersion: number): Promise<void> {
    try {
      const res = await request(`${this.o.url}/api/v1/pep/status`, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { authorization: `Bearer ${this.o.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: this.o.name, snapshotVersion, policyVersion }),
      });
      await res.body.dump();
    } catch {
      /* reported again with the next snapshot */
    }
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await this.agent.close().catch(() => undefined);
  }
}
