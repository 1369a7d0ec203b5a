import { EventEmitter } from 'node:events';
import { request } from 'undici';
import type { IdentityClient } from './IdentityClient.js';
import type { RevocationList, RevocationSnapshot } from './RevocationList.js';

/** The control plane sends a heartbeat this often on an idle revocation stream. */
export const REVOCATION_HEARTBEAT_MS = 5_000;

/**
 * Keeps a local RevocationList in step with the control plane over the SSE stream
 * (GET /api/v1/identity/revocations/stream, authenticated by the caller's SVID). Reconnects
 * with capped exponential backoff; on every (re)connect the full snapshot replaces the list,
 * so nothing revoked while disconnected is missed. Emits 'connected', 'disconnected', 'change'.
 */
export class RevocationFeed extends EventEmitter {
  private stopped = false;
  private abort: AbortController | null = null;
  private attempt = 0;
  connected = false;
  lastEventAt = 0;

  constructor(
    private readonly client: IdentityClient,
    readonly list: RevocationList,
    private readonly backoff = { minMs: 200, maxMs: 10_000 },
  ) {
    super();
  }

  start(): void {
    void this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.connectOnce();
      } catch (err) {
        if (this.stopped) break;
        this.emit('feedError', err);
      }
      if (this.connected) {
        this.connected = false;
        this.emit('disconnected');
      }
      if (this.stopped) break;
      const delay = Math.min(this.backoff.maxMs, this.backoff.minMs * 2 ** Math.min(this.attempt++, 10));
      await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random() / 2)).unref());
    }
  }

  private async connectOnce(): Promise<void> {
    this.abort = new AbortController();
    const res = await request(this.client.serverUrl.replace(/\/$/, '') + '/api/v1/identity/revocations/stream', {
      method: 'GET',
      dispatcher: this.client.dispatcher,
      signal: this.abort.signal,
      headersTimeout: 10_000,
      bodyTimeout: 4 * REVOCATION_HEARTBEAT_MS, // a silent stream is dead: reconnect
    });
    if (res.statusCode !== 200) {
      await res.body.text().catch(() => undefined);
      throw new Error(`revocation stream answered ${res.statusCode}`);
    }
    let buffer = '';
    for await (const chunk of res.body) {
      buffer += chunk.toString('utf8');
      if (buffer.length > 4 * 1024 * 1024) throw new Error('revocation event too large');
      let idx;
      while ((idx = buffer.indexOf('\n\n')) !== -1) {
        const raw = buffer.slice(0, idx);
        buffer = buffer.slice(idx + 2);
        this.handle(raw);
      }
    }
  }

  private handle(raw: string): void {
    let event = 'message';
    let data = '';
    for (const line of raw.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    this.lastEventAt = Date.now();
    if (!data) return;
    const payload = JSON.parse(data) as RevocationSnapshot;
    if (event === 'snapshot') {
      this.list.replace(payload.entries, payload.version);
      this.attempt = 0;
      this.connected = true;
      this.emit('connected', payload.version);
    } else if (event === 'revoked') {
      this.list.apply(payload.entries, payload.version);
      this.emit('change', payload.entries);
    }
  }

  /**
   * Whether the local list can be trusted: heard from (event or heartbeat) within `maxStaleMs`.
   * Being connected is not enough: a hung control plane or a half-open connection keeps the
   * stream open but silent. PEPs fail closed once this turns false (DESIGN.md: snapshot TTL).
   */
  isFresh(maxStaleMs: number, now = Date.now()): boolean {
    return this.lastEventAt > 0 && now - this.lastEventAt <= maxStaleMs;
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }
}
