import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { writeFileAtomic } from '../../crypto/index.js';
import { WardenError, isWardenError } from '../../errors/index.js';
import { createWorkloadKey } from '../createCsr.js';
import { IdentityClient, type SvidResponse } from '../IdentityClient.js';
import { RevocationList } from '../RevocationList.js';
import { RevocationFeed } from '../RevocationFeed.js';
import { checkLeafShape } from '../verifyPeerSvid.js';

/** What a workload (or the sidecar) needs to speak mTLS as itself. */
export interface SvidMaterial {
  spiffeId: string;
  serial: string;
  /** Leaf + intermediate. */
  chainPem: string;
  keyPem: string;
  bundlePem: string;
  notBefore: Date;
  notAfter: Date;
}

/** Anything that hands out the current SVID and says when it changes ('rotated'). */
export interface SvidSource extends EventEmitter {
  current(): SvidMaterial | null;
}

export interface WorkloadAgentOptions {
  /** Control plane admin API base URL (https://…). */
  serverUrl: string;
  /** Trust bundle used to authenticate the control plane on first contact. */
  bundlePem: string;
  joinToken?: string;
  /** Path of a projected Kubernetes service-account token (re-read on every attestation). */
  k8sTokenFile?: string;
  spiffeId?: string;
  /** Requested SVID lifetime (default: the server's identity.svidTtlSeconds). */
  ttlSeconds?: number;
  /** svid.pem, svid.key (0600) and bundle.pem are written here atomically. */
  outDir?: string;
  /** Fraction of the lifetime used as random jitter before the half-life renewal (default 0.1). */
  jitter?: number;
  retry?: { minMs: number; maxMs: number };
  /** Subscribe to the revocation stream and drop the SVID when this workload is revoked (default true). */
  followRevocations?: boolean;
  random?: () => number;
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/**
 * The node agent: attests once, then renews at half-life (± jitter) with a fresh key each time,
 * retrying with capped exponential backoff while the control plane is away. It keeps serving
 * the last SVID until it expires, persists it so a restarted agent resumes by renewal instead
 * of needing a new one-time token, and drops it immediately when its identity is revoked.
 */
export class WorkloadAgent extends EventEmitter implements SvidSource {
  private svid: SvidMaterial | null = null;
  private client: IdentityClient;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private failures = 0;
  private feed: RevocationFeed | null = null;
  readonly revocations = new RevocationList();
  rotations = 0;

  constructor(private readonly options: WorkloadAgentOptions) {
    super();
    this.client = new IdentityClient(options.serverUrl, { bundlePem: options.bundlePem });
    this.revocations.on('change', () => {
      const s = this.svid;
      // Its issuers too: revoking the intermediate that signed it revokes it. (Changes are rare: parsed per change.)
      if (s && this.revocations.revokesChain(s.spiffeId, s.chainPem)) this.dropRevoked();
    });
  }

  current(): SvidMaterial | null {
    if (this.svid && this.svid.notAfter.getTime() <= Date.now()) return null;
    return this.svid;
  }

  /** Obtains the first SVID (resume from outDir, else attest). Resolves once one is held. */
  async start(): Promise<SvidMaterial> {
    const resumed = this.resume();
    if (resumed) {
      this.install(resumed, false);
      try {
        await this.rotate();
      } catch (err) {
        this.log('warn', 'renewal of the stored SVID failed; keeping it and retrying', { code: (err as WardenError).code });
        this.scheduleRetry();
      }
    } else {
      const key = createWorkloadKey();
      const k8sToken = this.options.k8sTokenFile ? readFileSync(this.options.k8sTokenFile, 'utf8').trim() : undefined;
      if (!this.options.joinToken && !k8sToken) throw new WardenError('WARDEN_USAGE', 'the agent needs a join token or a Kubernetes token file (or a stored SVID in --out)');
      const res = await this.client.attest({ csr: key.csrPem, joinToken: this.options.joinToken, k8sToken, spiffeId: this.options.spiffeId, ttlSeconds: this.options.ttlSeconds });
      this.install(this.material(res, key.keyPem), true);
    }
    if (this.options.followRevocations !== false) {
      this.feed = new RevocationFeed(this.client, this.revocations);
      this.feed.on('feedError', (err: Error) => this.log('warn', 'revocation stream interrupted', { error: err.message }));
      this.feed.start();
    }
    return this.svid!;
  }

  private material(res: SvidResponse, keyPem: string): SvidMaterial {
    return {
      spiffeId: res.spiffeId,
      serial: res.serial,
      chainPem: res.chainPem,
      keyPem,
      bundlePem: res.bundlePem,
      notBefore: new Date(res.notBefore),
      notAfter: new Date(res.notAfter),
    };
  }

  private resume(): SvidMaterial | null {
    const dir = this.options.outDir;
    if (!dir || !existsSync(join(dir, 'svid.pem')) || !existsSync(join(dir, 'svid.key'))) return null;
    try {
      const chainPem = readFileSync(join(dir, 'svid.pem'), 'utf8');
      const keyPem = readFileSync(join(dir, 'svid.key'), 'utf8');
      const bundlePem = readFileSync(join(dir, 'bundle.pem'), 'utf8');
      const leaf = new X509Certificate(chainPem);
      if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) return null;
      const notAfter = new Date(leaf.validTo);
      if (notAfter.getTime() <= Date.now()) return null;
      return { spiffeId: checkLeafShape(leaf), serial: leaf.serialNumber.toLowerCase().replace(/^0+/, ''), chainPem, keyPem, bundlePem, notBefore: new Date(leaf.validFrom), notAfter };
    } catch {
      return null;
    }
  }

  private install(svid: SvidMaterial, fresh: boolean): void {
    this.svid = svid;
    this.client.setCredentials({ bundlePem: svid.bundlePem, chainPem: svid.chainPem, keyPem: svid.keyPem });
    if (fresh) this.writeFiles(svid);
    this.failures = 0;
    this.scheduleRenewal(svid);
    if (fresh) {
      this.rotations++;
      this.emit('rotated', svid);
    }
  }

  /** Bundle first (so a leaf from a new root verifies), then key, then certificate. */
  private writeFiles(svid: SvidMaterial): void {
    const dir = this.options.outDir;
    if (!dir) return;
    // Not ensurePrivateDir: --out may be a volume shared with the workload (a Kubernetes emptyDir
    // is 0777 and root's); the files themselves are replaced by rename, never written through.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(join(dir, 'bundle.pem'), svid.bundlePem, 0o644);
    writeFileAtomic(join(dir, 'svid.key'), svid.keyPem, 0o600);
    writeFileAtomic(join(dir, 'svid.pem'), svid.chainPem, 0o644);
  }

  private scheduleRenewal(svid: SvidMaterial): void {
    if (this.stopped) return;
    // Half of the certificate's own lifetime, measured on the local clock from now: robust to
    // skew between agent and control plane (the lifetime is a duration, not a wall time). The
    // effective lifetime excludes the CA's notBefore backdating; jitter spreads a fleet's renewals.
    const lifetime = svid.notAfter.getTime() - svid.notBefore.getTime();
    const remaining = svid.notAfter.getTime() - Date.now();
    const effective = Math.max(0, Math.min(lifetime, remaining));
    const half = effective / 2;
    const jitter = Math.min(this.options.jitter ?? 0.1, 0.4) * effective * (this.options.random ?? Math.random)();
    this.setTimer(Math.max(0, half - jitter));
  }

  private scheduleRetry(): void {
    const r = this.options.retry ?? { minMs: 500, maxMs: 30_000 };
    const base = Math.min(r.maxMs, r.minMs * 2 ** Math.min(this.failures++, 16));
    this.setTimer(base * (0.5 + (this.options.random ?? Math.random)() / 2));
  }

  private setTimer(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.rotate().catch((err: unknown) => {
        if (this.stopped) return;
        if (isWardenError(err) && err.code === 'WARDEN_IDENTITY_REVOKED') return this.dropRevoked();
        this.log('warn', 'SVID renewal failed; retrying with backoff', { code: isWardenError(err) ? err.code : 'WARDEN_INTERNAL' });
        this.emit('renewFailed', err);
        this.scheduleRetry();
      });
    }, Math.min(ms, 2 ** 31 - 1));
    this.timer.unref();
  }

  /** Renews now: new key, CSR, mTLS call with the current SVID. */
  async rotate(): Promise<SvidMaterial> {
    if (!this.svid) throw new WardenError('WARDEN_IDENTITY_AGENT_NOT_READY', 'no SVID to renew with');
    const key = createWorkloadKey();
    const res = await this.client.renew(key.csrPem, this.options.ttlSeconds);
    this.install(this.material(res, key.keyPem), true);
    return this.svid!;
  }

  async fetchJwtSvid(audience: string | string[], ttlSeconds?: number): Promise<{ token: string; expiresAt: string }> {
    if (!this.current()) throw new WardenError('WARDEN_IDENTITY_AGENT_NOT_READY', 'the agent holds no valid SVID');
    const r = await this.client.jwt(audience, ttlSeconds);
    return { token: r.token, expiresAt: r.expiresAt };
  }

  private dropRevoked(): void {
    const s = this.svid;
    if (!s) return;
    this.log('error', 'this workload identity was revoked; dropping the SVID', { spiffeId: s.spiffeId });
    this.svid = null;
    if (this.timer) clearTimeout(this.timer);
    if (this.options.outDir) {
      for (const f of ['svid.pem', 'svid.key']) rmSync(join(this.options.outDir, f), { force: true });
    }
    this.emit('revoked', s);
  }

  private log(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void {
    this.options.log?.(level, msg, fields);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.feed?.stop();
    await this.client.close().catch(() => undefined);
  }
}
