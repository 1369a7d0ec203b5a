import { Agent, request } from 'undici';
import { controlPlaneTls } from '../identity/controlPlaneIdentity.js';
import type { Logger } from '../observe/index.js';
import type { SnapshotHolder } from './PepSnapshot.js';
import { snapshotFromWire, type SnapshotWire } from './snapshotWire.js';

export interface SnapshotSubscriberOptions {
  /** Control-plane admin API base URL. */
  url: string;
  token: string;
  caPem?: string;
  /** This PEP's name, reported with the version it enforces. */
  name: string;
  holder: SnapshotHolder;
  logger: Logger;
}

const MAX_EVENT_BYTES = 64 * 1024 * 1024;

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
    this.agent = new Agent({ connect: controlPlaneTls(o.caPem), bodyTimeout: 0 });
    this.firstSnapshot = new Promise((r) => (this.firstResolve = r));
  }

  start(): void {
    void this.loop();
  }

  private async loop(): Promise<void> {
    let backoff = 250;
    while (!this.stopped) {
      try {
        await this.connectOnce();
        backoff = 250;
      } catch (err) {
        if (this.stopped) return;
        this.o.logger.warn({ err: (err as Error).message, retryInMs: backoff }, 'snapshot stream disconnected');
      }
      if (this.stopped) return;
      await new Promise((r) => setTimeout(r, backoff + Math.floor(Math.random() * backoff * 0.2)));
      backoff = Math.min(backoff * 2, 10_000);
    }
  }

  private async connectOnce(): Promise<void> {
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
        this.handleEvent(event);
      }
    }
    throw new Error('stream ended');
  }

  private handleEvent(event: string): void {
    let name = 'message';
    const data: string[] = [];
    for (const line of event.split('\n')) {
      if (line.startsWith('event: ')) name = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (name !== 'snapshot' || data.length === 0) return;
    try {
      const wire = JSON.parse(data.join('\n')) as SnapshotWire;
      const snap = snapshotFromWire(wire);
      if (this.o.holder.update(snap)) {
        this.o.logger.info({ version: snap.version, policyVersion: snap.policyVersion }, 'snapshot installed');
        void this.report(snap.version, snap.policyVersion);
      }
      this.firstResolve?.();
      this.firstResolve = null;
    } catch (err) {
      // A snapshot that does not compile is refused; the previous one stays in force.
      this.o.logger.error({ err: (err as Error).message }, 'snapshot refused');
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
