import { Pool } from 'undici';
import type { UpstreamConfig } from '../config/index.js';

export interface Upstream {
  name: string;
  origin: string;
  /** Path prefix of the upstream URL (usually empty). */
  basePath: string;
  pool: Pool;
  timeoutMs: number;
  models: readonly string[];
  /** Data classification of what this upstream serves (context.classification). */
  classification: string;
}

/** Keep-alive connection pools to model servers, and the model → upstream routing table. */
export class UpstreamPool {
  private readonly byModel = new Map<string, Upstream>();
  private readonly fallback: Upstream | null = null;
  readonly upstreams: Upstream[];

  constructor(configs: readonly UpstreamConfig[], connections = 64) {
    this.upstreams = configs.map((c) => {
      const url = new URL(c.url);
      return {
        name: c.name,
        origin: url.origin,
        basePath: url.pathname.replace(/\/$/, ''),
        pool: new Pool(url.origin, { connections, keepAliveTimeout: 60_000, pipelining: 1, headersTimeout: c.timeoutMs, bodyTimeout: c.timeoutMs }),
        timeoutMs: c.timeoutMs,
        models: c.models,
        classification: c.classification,
      };
    });
    for (const u of this.upstreams) {
      for (const m of u.models) {
        if (m === '*') this.fallback ??= u;
        else if (!this.byModel.has(m)) this.byModel.set(m, u);
      }
    }
  }

  forModel(model: string): Upstream | null {
    return this.byModel.get(model) ?? this.fallback;
  }

  /** Model names routed explicitly (for /v1/models). */
  knownModels(): string[] {
    return [...this.byModel.keys()].sort();
  }

  async close(): Promise<void> {
    await Promise.all(this.upstreams.map((u) => u.pool.close()));
  }
}
