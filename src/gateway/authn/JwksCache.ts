import { Agent, fetch as undiciFetch } from 'undici';
import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWSHeaderParameters, type FlattenedJWSInput, type CryptoKey } from 'jose';
import { jwksUriProblem } from '../../config/index.js';
import { WardenError } from '../../errors/index.js';

export interface JwksCacheOptions {
  jwksUri: string;
  /** How long keys from the last successful fetch stay usable when the endpoint is down. */
  maxAgeSeconds: number;
  /** After this age a request triggers a background refresh (never awaited by the request). */
  refreshSeconds: number;
  /** Lowest interval between fetches caused by unknown `kid`s. */
  minRefetchSeconds: number;
  fetchTimeoutMs?: number;
  /** PEM CA certificates for the JWKS endpoint (an IdP with an internal CA); default: the system store. */
  ca?: string;
  /** Largest JWKS document accepted, in bytes. */
  maxBytes?: number;
  now?: () => number;
  /**
   * After each fetch: null when it worked, else why not (never the URL: it may hold a secret);
   * with the time of the last good fetch. Fetches are rare (minRefetchSeconds, refreshSeconds).
   */
  onFetch?: (failure: string | null, fetchedAt: number) => void;
}

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/**
 * Keys of one issuer's JWKS, selected per token by jose's local key set.
 *
 * Written here rather than using jose's `createRemoteJWKSet` because that one refetches on
 * expiry and fails when the endpoint is down; a PEP must keep verifying with the keys it has
 * until `maxAgeSeconds`, refresh in the background, and then fail closed.
 */
export class JwksCache {
  private local: ReturnType<typeof createLocalJWKSet> | null = null;
  private fetchedAt = -Infinity;
  private lastAttemptAt = -Infinity;
  private inflight: Promise<void> | null = null;
  private lastError: unknown = null;
  private readonly now: () => number;
  readonly resolve: KeyResolver;

  constructor(private readonly o: JwksCacheOptions) {
    // warden.yaml is checked by the schema (with the config path); this covers direct callers.
    const problem = jwksUriProblem(o.jwksUri);
    if (problem) throw new WardenError('WARDEN_CONFIG_INVALID', `jwksUri ${problem}`);
    this.now = o.now ?? Date.now;
    this.resolve = (header, token) => this.getKey(header, token);
    this.dispatcher = o.ca ? new Agent({ connect: { ca: o.ca, minVersion: 'TLSv1.2' } }) : null;
  }

  /** Trusts only `ca` for the JWKS endpoint when one is configured. */
  private readonly dispatcher: Agent | null;

  /** Epoch ms of the last successful fetch (or -Infinity). */
  get lastFetchedAt(): number {
    return this.fetchedAt;
  }

  /** Whether the cached keys are still within their maximum age at `now`. */
  usable(now: number): boolean {
    return now - this.fetchedAt <= this.o.maxAgeSeconds * 1000;
  }

  private async getKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    const now = this.now();
    const mayFetch = this.inflight !== null || now - this.lastAttemptAt >= this.o.minRefetchSeconds * 1000;
    if (now - this.fetchedAt > this.o.maxAgeSeconds * 1000) {
      // No usable keys: this request waits for a fetch and fails closed if it fails. While the
      // endpoint is down, at most one attempt per minRefetchSeconds; other requests fail at once.
      if (!mayFetch) throw new WardenError('WARDEN_AUTHN_JWKS_UNAVAILABLE', 'the issuer JWKS cannot be fetched and cached keys are too old', { cause: this.lastError });
      await this.refresh();
      if (this.now() - this.fetchedAt > this.o.maxAgeSeconds * 1000) {
        throw new WardenError('WARDEN_AUTHN_JWKS_UNAVAILABLE', 'the issuer JWKS cannot be fetched and cached keys are too old', { cause: this.lastError });
      }
    } else if (now - this.fetchedAt > this.o.refreshSeconds * 1000 && mayFetch && !this.inflight) {
      void this.refresh();
    }
    try {
      return await this.local!(header, token);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
    }
    // Unknown kid: maybe the issuer rotated. Refetch, but at most once per minRefetchSeconds.
    if (this.inflight || this.now() - this.lastAttemptAt >= this.o.minRefetchSeconds * 1000) {
      const before = this.fetchedAt;
      await this.refresh();
      if (this.fetchedAt === before) throw new WardenError('WARDEN_AUTHN_JWKS_UNAVAILABLE', 'the token key is not cached and the issuer JWKS cannot be fetched', { cause: this.lastError });
      try {
        return await this.local!(header, token);
      } catch (err) {
        if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
      }
    }
    throw new WardenError('WARDEN_AUTHN_UNKNOWN_KID', 'the token is signed with a key the issuer does not publish');
  }

  /** Fetches the JWKS now; concurrent callers share one fetch. Never throws. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetchOnce().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async fetchOnce(): Promise<void> {
    this.lastAttemptAt = this.now();
    try {
      const res = await undiciFetch(this.o.jwksUri, {
        headers: { accept: 'application/jwk-set+json, application/json' },
        signal: AbortSignal.timeout(this.o.fetchTimeoutMs ?? 5000),
        redirect: 'error',
        dispatcher: this.dispatcher ?? undefined,
      });
      if (res.status !== 200) throw new Error(`JWKS endpoint answered ${res.status}`);
      const max = this.o.maxBytes ?? 512 * 1024;
      const declared = Number(res.headers.get('content-length') ?? NaN);
      if (declared > max) throw new Error('JWKS document too large');
      const doc = JSON.parse(await readAtMost(res.body, max)) as unknown;
      if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as JSONWebKeySet).keys)) throw new Error('JWKS document has no "keys" array');
      // Private members would be a publisher mistake; never hold them.
      const keys = (doc as JSONWebKeySet).keys.filter((k) => typeof k === 'object' && k !== null && !('d' in k) && k.kty !== 'oct');
      this.local = createLocalJWKSet({ keys });
      this.fetchedAt = this.now();
      this.lastError = null;
      this.o.onFetch?.(null, this.fetchedAt);
    } catch (err) {
      this.lastError = err;
      this.o.onFetch?.(fetchFailure(err), this.fetchedAt);
    }
  }
}

/** Why a fetch failed, in words that hold no URL: the network's code (ECONNREFUSED, a TLS code), a timeout, or our own check. */
function fetchFailure(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string } } | null;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timed out';
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  if (e instanceof SyntaxError) return 'the JWKS document is not JSON';
  return e instanceof Error && /^JWKS /.test(e.message) ? e.message : 'the fetch failed';
}

/** The body as UTF-8, refused as soon as it passes `max` bytes (a missing content-length bounds nothing). */
async function readAtMost(body: AsyncIterable<Uint8Array> | null, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body ?? []) {
    size += chunk.byteLength;
    if (size > max) throw new Error('JWKS document too large');
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}
