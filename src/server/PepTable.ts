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
 * and per token, and dropped once not seen for a while. At a cap, a new name takes the place of
 * the entry seen longest ago that has no snapshot stream open (pods replaced by a rollout get new
 * names): live gateways keep their rows, and a new gateway is never denied its snapshot stream
 * because of this table. Only when every entry has a stream open is a new name refused (status
 * reports) or left out of the table (streams).
 */
export class PepTable {
  private readonly entries = new Map<string, Entry>();
  private readonly perToken = new Map<string, number>();

  constructor(
    private readonly limits: PepTableLimits = DEFAULT_PEP_TABLE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records a status report (or, with `optional`, a stream opening). A new name past a cap replaces
   * the least recently seen entry without an open stream; when there is none it throws
   * WARDEN_CONFLICT, or with `optional` records nothing and returns null.
   */
  report(tokenId: string, name: string, versions?: { snapshotVersion: number; policyVersion: number }, options: { optional?: boolean } = {}): PepStatus | null {
    const key = `${tokenId}\n${name}`;
    const now = this.now();
    const iso = new Date(now).toISOString();
    let entry = this.entries.get(key);
    if (!entry) {
      this.expire(now);
      const full =
        ((this.perToken.get(tokenId) ?? 0) >= this.limits.maxPerToken && !this.evictOldest(tokenId)) ||
        (this.entries.size >= this.limits.maxPeps && !this.evictOldest(null));
      if (full) {
        if (options.optional) return null;
        throw new WardenError('WARDEN_CONFLICT', `the control plane already tracks ${this.entries.size} PEPs with a snapshot stream open (at most ${this.limits.maxPerToken} per token, ${this.limits.maxPeps} in all); this one is served but not listed`);
      }
      entry = { status: { name, snapshotVersion: 0, policyVersion: 0, connectedAt: iso, lastSeenAt: iso }, tokenId, lastSeenMs: now, streams: 0 };
      this.entries.set(key, entry);
      this.perToken.set(tokenId, (this.perToken.get(tokenId) ?? 0) + 1);
    }
    entry.lastSeenMs = now;
    entry.status = { ...entry.status, ...versions, lastSeenAt: iso };
    return entry.status;
  }

  /** Drops the least recently seen entry without an open stream (of `tokenId`, or of any token); false if there is none. */
  private evictOldest(tokenId: string | null): boolean {
    let oldest: [string, Entry] | null = null;
    for (const kv of this.entries) {
      const e = kv[1];
      if (e.streams > 0 || (tokenId !== null && e.tokenId !== tokenId)) continue;
      if (oldest === null || e.lastSeenMs < oldest[1].lastSeenMs) oldest = kv;
    }
    if (oldest === null) return false;
    this.remove(oldest[0], oldest[1]);
    return true;
  }

  private remove(key: string, e: Entry): void {
    this.entries.delete(key);
    const owned = (this.perToken.get(e.tokenId) ?? 1) - 1;
    if (owned > 0) this.perToken.set(e.tokenId, owned);
    else this.perToken.delete(e.tokenId);
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
      this.remove(key, e);
    }
  }
}
