import { Pool } from 'undici';
import type { UpstreamConfig } from '../config/index.js';
import { WardenError } from '../errors/index.js';
import { CircuitBreaker } from './CircuitBreaker.js';
import { spiffeMtlsConnector, type GatewaySvidSource } from './upstreamMtls.js';
import { UpstreamPeers } from './UpstreamPeers.js';
import type { RevocationList } from '../identity/index.js';
import type { Logger } from '../observe/index.js';

export interface Upstream {
  name: string;
  origin: string;
  /** Path prefix of the upstream URL (usually empty). */
  basePath: string;
  pool: Pool;
  timeoutMs: number;
  /** Cap on a whole call, answer included (null = none). */
  maxDurationMs: number | null;
  /** Size of `pool` (reported when requests time out waiting for a free connection). */
  connections: number;
  models: readonly string[];
  /** Data classification of what this upstream serves (context.classification). */
  classification: string;
  /** Extra attempts when the connection could not be opened (nothing sent yet). */
  retries: number;
  breaker: CircuitBreaker;
  healthCheck: UpstreamConfig['healthCheck'];
  /** Answers without a reported model digest are refused (WARDEN_ADMISSION_DIGEST_MISSING). */
  requireModelDigest: boolean;
  /** Ask for `usage` on token-limited streams (stream_options.include_usage). */
  requestStreamUsage: boolean;
  /** Custom connector (mTLS to a SPIFFE workload), shared with the health check. */
  connect: ReturnType<typeof spiffeMtlsConnector> | undefined;
}

export interface UpstreamPoolOptions {
  /** Told when a health check (or the circuit) changes an upstream's state (metrics). */
  onHealth?: (upstream: string, up: boolean) => void;
  /** The gateway's SVID, for upstreams with `mtls` (Warden sidecars). */
  svid?: GatewaySvidSource | null;
  trustDomain?: string;
  /** Upstream SVIDs (mtls upstreams) are checked against it, and their connections closed when revoked. */
  revocations?: RevocationList | null;
  /** Where refused and closed upstream connections are reported. */
  logger?: Logger | null;
}

/** Keep-alive connection pools to model servers, and the model → upstream routing table. */
/** Connection (and TLS handshake) deadline of an upstream: its timeout, at most 10 s. */
function connectTimeoutMs(c: UpstreamConfig): number {
  return Math.min(c.timeoutMs, 10_000);
}

export class UpstreamPool {
  private readonly byModel = new Map<string, Upstream>();
  private readonly fallback: Upstream | null = null;
  readonly upstreams: Upstream[];

  private readonly healthTimers: NodeJS.Timeout[] = [];
  private readonly probes: Pool[] = [];
  private readonly peers: UpstreamPeers | null;

  constructor(configs: readonly UpstreamConfig[], private readonly options: UpstreamPoolOptions = {}) {
    this.peers = options.revocations && configs.some((c) => c.mtls) ? new UpstreamPeers(options.revocations, options.logger ?? null) : null;
    this.upstreams = configs.map((c) => {
      const url = new URL(c.url);
      const connect = c.mtls ? this.mtlsConnector(c) : undefined;
      return {
        name: c.name,
        origin: url.origin,
        basePath: url.pathname.replace(/\/$/, ''),
        pool: new Pool(url.origin, {
          connections: c.connections,
          keepAliveTimeout: 60_000,
          pipelining: 1,
          headersTimeout: c.timeoutMs,
          bodyTimeout: c.timeoutMs,
          // undici's own default is a fixed 10 s, whatever the upstream's timeout (the mTLS connector has its own).
          connectTimeout: connectTimeoutMs(c),
          connect,
        }),
        connect,
        timeoutMs: c.timeoutMs,
        maxDurationMs: c.maxDurationMs,
        connections: c.connections,
        models: c.models,
        classification: c.classification,
        retries: c.retries,
        breaker: new CircuitBreaker(c.circuitBreaker.failureThreshold, c.circuitBreaker.openMs),
        healthCheck: c.healthCheck,
        requireModelDigest: c.requireModelDigest,
        requestStreamUsage: c.requestStreamUsage,
      };
    });
    for (const u of this.upstreams) {
      for (const m of u.models) {
        if (m === '*') this.fallback ??= u;
        else if (!this.byModel.has(m)) this.byModel.set(m, u);
      }
    }
  }

  private mtlsConnector(c: UpstreamConfig) {
    const svid = this.options.svid;
    if (!svid || !this.options.trustDomain) throw new WardenError('WARDEN_CONFIG_INVALID', `gateway.upstreams ${c.name}: mtls needs the gateway's SVID (warden up issues it; warden gateway gets it from the control plane)`);
    return spiffeMtlsConnector(svid, { spiffeId: c.mtls!.spiffeId, trustDomain: this.options.trustDomain }, connectTimeoutMs(c), this.peers);
  }

  forModel(model: string): Upstream | null {
    return this.byModel.get(model) ?? this.fallback;
  }

  /** Model names routed explicitly (for /v1/models). */
  knownModels(): string[] {
    return [...this.byModel.keys()].sort();
  }

  /** Whether an upstream names this model in its `models` (not only through `*`). */
  namesModel(model: string): boolean {
    return this.byModel.has(model);
  }

  /** Whether an upstream takes every model no other one names (`models: ['*']`). */
  hasCatchAll(): boolean {
    return this.fallback !== null;
  }

  /** Starts the configured active health checks (GET path, 2xx = healthy) on their own pools. */
  startHealthChecks(): void {
    for (const u of this.upstreams) {
      const hc = u.healthCheck;
      if (!hc) continue;
      const probe = new Pool(u.origin, { connections: 1, keepAliveTimeout: hc.intervalMs * 2, headersTimeout: hc.timeoutMs, bodyTimeout: hc.timeoutMs, connect: u.connect });
      let last: boolean | null = null;
      let running = false;
      const check = async (): Promise<void> => {
        // A probe still waiting (a slow connect) is not joined by another each interval.
        if (running) return;
        running = true;
        let up = false;
        try {
          const res = await probe.request({ path: u.basePath + hc.path, method: 'GET', signal: AbortSignal.timeout(hc.timeoutMs) });
          await res.body.dump();
          up = res.statusCode >= 200 && res.statusCode < 300;
        } catch {
          up = false;
        }
        running = false;
        u.breaker.setHealthy(up);
        if (up !== last) this.options.onHealth?.(u.name, up);
        last = up;
      };
      void check();
      const timer = setInterval(() => void check(), hc.intervalMs);
      timer.unref();
      this.healthTimers.push(timer);
      this.probes.push(probe);
    }
  }

  async close(): Promise<void> {
    for (const t of this.healthTimers) clearInterval(t);
    this.peers?.close();
    await Promise.all([...this.upstreams.map((u) => u.pool.close()), ...this.probes.map((p) => p.close())]);
  }
}
