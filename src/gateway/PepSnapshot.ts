import type { ApiKeyVerifier } from '../store/index.js';
import type { Authorizer } from '../policy/index.js';
import type { AdmissionTable } from '../artifacts/index.js';

/**
 * Everything a PEP needs to decide a request, held in memory and swapped atomically:
 * no database call on the request path. Built by the control plane, pushed to PEPs.
 */
export interface PepSnapshot {
  /** Monotonic version; PEPs report it. */
  version: number;
  issuedAt: number;
  /** After this (epoch ms) without a fresh snapshot the PEP fails closed. */
  expiresAt: number;
  /** API key verifiers by key prefix (hashes only, never keys). */
  apiKeys: ReadonlyMap<string, ApiKeyVerifier>;
  authorizer: Authorizer;
  /** Published policy-set version the authorizer was compiled from (0 = none published). */
  policyVersion: number;
  /** Which model versions/digests may be served (artifacts registry). */
  admission: AdmissionTable;
  /**
   * Principals refused whatever credential they authenticate with (canonical Cedar entity string
   * → end of the block in epoch ms, null = until unblocked). See principalRefusal.
   */
  blockedPrincipals: ReadonlyMap<string, number | null>;
  /** serverSecretCheck of the secret the API key hashes were made with, when the control plane sent it. */
  secretCheck?: string;
}

export type SnapshotListener = (snapshot: PepSnapshot) => void;

/** Holds the current snapshot; `current()` is what the hot path reads. */
export class SnapshotHolder {
  private snapshot: PepSnapshot | null = null;
  private readonly listeners = new Set<SnapshotListener>();

  current(): PepSnapshot | null {
    return this.snapshot;
  }

  /** Swaps in a newer snapshot; older or equal versions are ignored. */
  update(next: PepSnapshot): boolean {
    if (this.snapshot && next.version <= this.snapshot.version) return false;
    return this.install(next);
  }

  /**
   * Swaps in the first snapshot of a new connection whatever its version: a restarted control
   * plane numbers its snapshots from 1 again, and only the stream it serves now is authoritative.
   * The same snapshot again (same version and issue time) is not installed twice.
   */
  replace(next: PepSnapshot): boolean {
    if (this.snapshot && next.version === this.snapshot.version && next.issuedAt === this.snapshot.issuedAt) return false;
    return this.install(next);
  }

  private install(next: PepSnapshot): boolean {
    this.snapshot = next;
    for (const l of this.listeners) l(next);
    return true;
  }

  onUpdate(listener: SnapshotListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
