import { WardenError } from '../errors/index.js';

export interface PepStatus {
  name: string;
  snapshotVersion: number;
  policyVersion: number;
  connectedAt: string;
  lastSeenAt: string;
}

export interface PepTableLimits {
  /** Entries at most, all tokens together. */
  maxPeps: number;
  /** Entries one token may have (a fleet usually shares one PEP token). */
  maxPerToken: number;
  /** An entry without an open snapshot stream is dropped this long after it was last seen. */
  expireAfterMs: number;
}

export const DEFAULT_PEP_TABLE_LIMITS: PepTableLimits = { maxPeps: 2048, maxPerToken: 512, expireAfterMs: 10 * 60_000 };

interface Entry {
  status: PepStatus;
  tokenId: string;
  lastSeenMs: number;
  /** Snapshot streams open under this name: an entry with one never expires. */
  streams: number;
}

/**
 * The PEPs that reported to this control plane (GET /status, /pep/peps), in bounded memory: any
 * PEP token may name any number of PEPs, so entries are kept per token and name, capped overall
 * and per token, and dropped once not seen for a while. A new name past a cap is refused rather
 * than evicting another PEP's entry.
 */
export class PepTable {
  private readonly entries = new Map<string, Entry>();
  private readonly perToken = new Map<string, number>();

  constructor(
    private readonly limits: PepTableLimits = DEFAULT_PEP_TABLE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a status report (or a stream opening); throws WARDEN_CONFLICT for a new name past a cap. */
  report(tokenId: string, name: string, versions?: { snapshotVersion: number; policyVersion: number }): PepStatus {
    const key = `${tokenId}\n${name}`;
    const now = this.now();
    const iso = new Date(now).toISOString();
    let entry = this.entries.get(key);
    if (!entry) {
      this.expire(now);
      const owned = this.perToken.get(tokenId) ?? 0;
      if (owned >= this.limits.maxPerToken) {
        throw new WardenError('WARDEN_CONFLICT', `this PEP token already reports ${owned} PEP names (at most ${this.limits.maxPerToken}); reuse a name, or wait until unused names expire (${Math.round(this.limits.expireAfterMs / 60_000)} min after they were last seen)`);
      }
      if (this.entries.size >= this.limits.maxPeps) {
        throw new WardenError('WARDEN_CONFLICT', `the control plane already tracks ${this.entries.size} PEPs (at most ${this.limits.maxPeps}); unused names expire ${Math.round(this.limits.expireAfterMs / 60_000)} min after they were last seen`);
      }
      entry = { status: { name, snapshotVersion: 0, policyVersion: 0, connectedAt: iso, lastSeenAt: iso }, tokenId, lastSeenMs: now, streams: 0 };
      this.entries.set(key, entry);
      this.perToken.set(tokenId, owned + 1);
    }
    entry.lastSeenMs = now;
    entry.status = { ...entry.status, ...versions, lastSeenAt: iso };
    return entry.status;
  }

  /** A snapshot stream opened under this name (after `report`); returns the function to call when it closes. */
  streamOpened(tokenId: string, name: string): () => void {
    const entry = this.entries.get(`${tokenId}\n${name}`);
    if (!entry) return () => undefined;
    entry.streams++;
    entry.status = { ...entry.status, connectedAt: entry.status.lastSeenAt };
    return () => {
      entry.streams--;
      entry.lastSeenMs = this.now();
      entry.status = { ...entry.status, lastSeenAt: new Date(entry.lastSeenMs).toISOString() };
    };
  }

  list(): PepStatus[] {
    this.expire(this.now());
    return [...this.entries.values()].map((e) => e.status);
  }

  get size(): number {
    return this.entries.size;
  }

  private expire(now: number): void {
    for (const [key, e] of this.entries) {
      if (e.streams > 0 || now - e.lastSeenMs < this.limits.expireAfterMs) continue;
      this.entries.delete(key);
      const owned = (this.perToken.get(e.tokenId) ?? 1) - 1;
      if (owned > 0) this.perToken.set(e.tokenId, owned);
      else this.perToken.delete(e.tokenId);
    }
  }
}
