import { existsSync, readFileSync } from 'node:fs';
import type { CryptoKey, CryptoKeyPair } from './webcryptoTypes.js';
import { join } from 'node:path';
import { webcrypto, createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { SignJWT, exportJWK, calculateJwkThumbprint } from 'jose';
import { WardenError } from '../errors/index.js';
import { writeFileAtomic, ensurePrivateDir } from '../crypto/index.js';
import type { Database } from '../store/index.js';
import { x509, ECDSA_SHA256, EC_P256, randomSerialHex, toPem, normalizeSerial } from './x509.js';
import { signCrl } from './signCrl.js';
import { parseAndVerifyCsr, leafSigner, signLeafCertificate, type LeafSigner, type LeafName } from './fastLeaf.js';
import { FileKeyProvider, type KeyAlgorithm, type KeyProvider } from './KeyProvider.js';
import { parseSpiffeId, assertTrustDomain, type SpiffeId } from './SpiffeId.js';
import { CONTROL_PLANE_SPIFFE_PATH } from './controlPlaneIdentity.js';
import { parseWorkloadSpiffeId } from './parseWorkloadSpiffeId.js';
import { JWT_SVID_SERIAL_CLAIM } from './verifyJwtSvid.js';
import { removeUnreferencedCaFiles } from './removeUnreferencedCaFiles.js';
import { CA_STATE_FILE, rootCertName, intermediateCertName, intermediateCertPath, rootKeyName, intermediateKeyName } from './caFileNames.js';
import { RevocationList } from './RevocationList.js';
import { IssuedSvidRepository } from './IssuedSvidRepository.js';
import type { CertificateAuthority } from './CertificateAuthority.js';
import type { X509Svid, JwtSvid, SpiffeBundle, SpiffeJwk, ServerCertificate, CaGenerationInfo } from './types.js';

export interface AuthorityOptions {
  dataDir: string;
  trustDomain: string;
  db?: Database;
  keyProvider?: KeyProvider;
  svidTtlSeconds?: number;
  maxSvidTtlSeconds?: number;
  jwtSvidTtlSeconds?: number;
  jwtAlgorithm?: KeyAlgorithm;
  rootTtlDays?: number;
  intermediateTtlDays?: number;
  /** notBefore is backdated by this much so peers with slightly slow clocks accept new SVIDs. */
  clockSkewSeconds?: number;
  /** When maintenance (intermediate re-issue, root rotation) is due; tests move it forward. */
  clock?: () => number;
}

interface StateFile {
  version: 1;
  trustDomain: string;
  sequence: number;
  generations: { id: string; status: 'prepared' | 'active' | 'retired'; createdAt: string; intermediate: number; superseded?: readonly SupersededIntermediate[] }[];
}

/**
 * An intermediate a renewal replaced (its key and certificate file are deleted): kept until it
 * expires, by serial so it can still be revoked, and with its certificate so the workload API
 * can complete the chains of the SVIDs it issued (they stay valid until they expire). The same
 * form in authority.json and in memory; `ca show` gets serial and expiry.
 */
interface SupersededIntermediate {
  /** Normalized (lowercase hex, no leading zeros). */
  readonly serial: string;
  /** ISO 8601. */
  readonly notAfter: string;
  /** PEM. Absent in records written before it was kept: the workload API refuses that intermediate's SVIDs (other verifiers take the chain they present). */
  readonly certificate?: string;
}

interface Generation {
  id: string;
  status: 'prepared' | 'active' | 'retired';
  createdAt: string;
  intermediateNo: number;
  root: x509.X509Certificate;
  rootKeys: CryptoKeyPair;
  intermediate: x509.X509Certificate;
  intermediateKeys: CryptoKeyPair;
  /** Earlier intermediates of this generation that have not expired. */
  superseded: readonly SupersededIntermediate[];
  jwtKey: CryptoKey;
  jwtPublicJwk: SpiffeJwk;
  jwtKid: string;
}

const DAY = 86_400_000;
/** Largest CSR accepted: a P-256 CSR is ~400 bytes; anything near this is not a workload CSR. */
const MAX_CSR_BYTES = 16 * 1024;
const LEAF_SUBJECT = 'O=Warden, OU=SPIFFE';

/**
 * File-backed CA (keys through a KeyProvider, certificates and state under <dataDir>/ca/).
 * Certificates are built with @peculiar/x509; everything signs through WebCrypto.
 */
export class FileCertificateAuthority implements CertificateAuthority {
  readonly trustDomain: string;
  readonly trustDomainId: string;
  readonly revocations: RevocationList;
  readonly issued: IssuedSvidRepository | null;
  private gens: Generation[] = [];
  private seq = 0;
  private bundleCache = '';
  private jwksCache: SpiffeBundle | null = null;
  private readonly caDir: string;
  private readonly keys: KeyProvider;
  private readonly svidTtl: number;
  private readonly maxSvidTtl: number;
  private readonly jwtTtl: number;
  private readonly jwtAlg: KeyAlgorithm;
  private readonly rootTtlMs: number;
  private readonly intermediateTtlMs: number;
  private readonly skewMs: number;
  private leafTemplate: LeafSigner | null = null;
  private intermediatePemText: { gen: Generation; no: number; pem: string } | null = null;
  private rolling: Promise<void> | null = null;

  private constructor(private readonly options: AuthorityOptions) {
    this.trustDomain = assertTrustDomain(options.trustDomain);
    this.trustDomainId = `spiffe://${this.trustDomain}`;
    this.caDir = join(options.dataDir, 'ca');
    this.keys = options.keyProvider ?? new FileKeyProvider(join(this.caDir, 'keys'));
    this.revocations = new RevocationList(options.db, { announce: options.db?.kind === 'postgres' });
    this.issued = options.db ? new IssuedSvidRepository(options.db) : null;
    this.svidTtl = options.svidTtlSeconds ?? 3600;
    this.maxSvidTtl = options.maxSvidTtlSeconds ?? 86_400;
    this.jwtTtl = options.jwtSvidTtlSeconds ?? 300;
    this.jwtAlg = options.jwtAlgorithm ?? 'ES256';
    this.rootTtlMs = (options.rootTtlDays ?? 365) * DAY;
    this.intermediateTtlMs = (options.intermediateTtlDays ?? 30) * DAY;
    this.skewMs = (options.clockSkewSeconds ?? 30) * 1000;
  }

  static async open(options: AuthorityOptions): Promise<FileCertificateAuthority> {
    const ca = new FileCertificateAuthority(options);
    ensurePrivateDir(ca.caDir);
    await ca.loadState();
    // Only after authority.json was read (or written) successfully: it alone says what is in use.
    removeUnreferencedCaFiles(ca.caDir, ca.keys);
    await ca.revocations.load();
    return ca;
  }

  get sequence(): number {
    return this.seq;
  }

  private statePath(): string {
    return join(this.caDir, CA_STATE_FILE);
  }

  private async loadState(): Promise<void> {
    let state: StateFile | null = null;
    if (existsSync(this.statePath())) {
      try {
        state = JSON.parse(readFileSync(this.statePath(), 'utf8')) as StateFile;
      } catch (cause) {
        throw new WardenError('WARDEN_IDENTITY_CA_STATE_INVALID', `cannot read ${this.statePath()}`, { cause });
      }
      if (state.trustDomain !== this.trustDomain) {
        throw new WardenError(
          'WARDEN_IDENTITY_TRUST_DOMAIN_MISMATCH',
          `the CA in ${this.caDir} is for trust domain ${state.trustDomain}, not ${this.trustDomain}`,
        );
      }
      this.seq = state.sequence;
      for (const g of state.generations) this.gens.push({ ...(await this.loadGeneration(g.id, g.status, g.createdAt, g.intermediate)), superseded: this.supersededOf(g) });
    }
    if (!this.active()) {
      const g = await this.createGeneration('active');
      this.gens.push(g);
      this.persist();
    }
    await this.maintain();
  }

  /** The superseded intermediates authority.json lists for a generation (none before they were recorded). */
  private supersededOf(g: { id: string; superseded?: unknown }): Generation['superseded'] {
    if (g.superseded === undefined) return [];
    const list = g.superseded;
    const valid = Array.isArray(list) && list.every((e: Partial<SupersededIntermediate> | null) => typeof e?.serial === 'string' && /^[0-9a-f]{1,40}$/.test(e.serial) && typeof e.notAfter === 'string' && !Number.isNaN(Date.parse(e.notAfter)));
    if (!valid) throw new WardenError('WARDEN_IDENTITY_CA_STATE_INVALID', `${this.statePath()}: generation ${g.id} lists malformed superseded intermediates`);
    return (list as SupersededIntermediate[]).map((e) => {
      if (e.certificate === undefined) return { serial: e.serial, notAfter: e.notAfter };
      let serial: string | null = null;
      try {
        serial = typeof e.certificate === 'string' ? normalizeSerial(new x509.X509Certificate(e.certificate).serialNumber) : null;
      } catch {
        /* reported below */
      }
      if (serial !== e.serial) throw new WardenError('WARDEN_IDENTITY_CA_STATE_INVALID', `${this.statePath()}: generation ${g.id} lists a replaced intermediate whose certificate is not serial ${e.serial}`);
      return { serial: e.serial, notAfter: e.notAfter, certificate: e.certificate };
    });
  }

  private active(): Generation | undefined {
    return this.gens.find((g) => g.status === 'active');
  }

  private async loadGeneration(id: string, status: Generation['status'], createdAt: string, intermediateNo: number): Promise<Omit<Generation, 'superseded'>> {
    try {
      const root = new x509.X509Certificate(readFileSync(join(this.caDir, rootCertName(id)), 'utf8'));
      const intermediateFile = intermediateCertPath(this.caDir, id, intermediateNo);
      const intermediate = new x509.X509Certificate(readFileSync(intermediateFile, 'utf8'));
      // Load, never create: a key made now could not match the certificate already on disk.
      const rootKeys = await this.keys.load(rootKeyName(id), 'ES256');
      const intermediateKeys = await this.keys.load(intermediateKeyName(id, intermediateNo), 'ES256');
      await assertKeyMatches(root, rootKeys, `root certificate ${rootCertName(id)}`, rootKeyName(id));
      await assertKeyMatches(intermediate, intermediateKeys, `intermediate certificate ${intermediateFile}`, intermediateKeyName(id, intermediateNo));
      return { id, status, createdAt, intermediateNo, root, rootKeys, intermediate, intermediateKeys, ...(await this.jwtKeyOf(id)) };
    } catch (cause) {
      if (cause instanceof WardenError) throw cause;
      throw new WardenError('WARDEN_IDENTITY_CA_STATE_INVALID', `CA generation ${id} is incomplete in ${this.caDir}`, { cause });
    }
  }

  private async jwtKeyOf(gen: string): Promise<{ jwtKey: CryptoKey; jwtPublicJwk: SpiffeJwk; jwtKid: string }> {
    const pair = await this.keys.loadOrCreate(`${gen}-jwt-${this.jwtAlg.toLowerCase()}`, this.jwtAlg);
    const jwk = await exportJWK(pair.publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    return {
      jwtKey: pair.privateKey,
      jwtKid: kid,
      jwtPublicJwk: { kty: jwk.kty!, crv: jwk.crv, x: jwk.x, y: jwk.y, kid, use: 'jwt-svid', alg: this.jwtAlg },
    };
  }

  private async createGeneration(status: Generation['status']): Promise<Generation> {
    const id = `g${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36).padStart(2, '0')}`;
    const rootKeys = await this.keys.loadOrCreate(rootKeyName(id), 'ES256');
    const now = Date.now();
    const root = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerialHex(),
      name: `O=Warden, OU=${this.trustDomain}, CN=Warden Root CA ${id}`,
      notBefore: new Date(now - this.skewMs),
      notAfter: new Date(now + this.rootTtlMs),
      signingAlgorithm: ECDSA_SHA256,
      keys: rootKeys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 1, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: this.trustDomainId }], false),
        await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
      ],
    });
    writeFileAtomic(join(this.caDir, rootCertName(id)), toPem(root), 0o644);
    const { intermediate, intermediateKeys } = await this.issueIntermediate(id, 1, root, rootKeys);
    // createdAt on the maintenance clock: the activation delay counts from it.
    return { id, status, createdAt: new Date(this.now()).toISOString(), intermediateNo: 1, root, rootKeys, intermediate, intermediateKeys, superseded: [], ...(await this.jwtKeyOf(id)) };
  }

  private async issueIntermediate(id: string, no: number, root: x509.X509Certificate, rootKeys: CryptoKeyPair) {
    const intermediateKeys = await this.keys.loadOrCreate(intermediateKeyName(id, no), 'ES256');
    const now = Date.now();
    const notAfter = Math.min(now + this.intermediateTtlMs, root.notAfter.getTime());
    const intermediate = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerialHex(),
      subject: `O=Warden, OU=${this.trustDomain}, CN=Warden Intermediate CA ${id}-${no}`,
      issuer: root.subject,
      notBefore: new Date(now - this.skewMs),
      notAfter: new Date(notAfter),
      signingAlgorithm: ECDSA_SHA256,
      publicKey: intermediateKeys.publicKey,
      signingKey: rootKeys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: this.trustDomainId }], false),
        await x509.SubjectKeyIdentifierExtension.create(intermediateKeys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
      ],
    });
    // A file per number: the one authority.json names stays intact until persist() commits the new one.
    writeFileAtomic(join(this.caDir, intermediateCertName(id, no)), toPem(intermediate), 0o644);
    return { intermediate, intermediateKeys };
  }

  private persist(): void {
    const state: StateFile = {
      version: 1,
      trustDomain: this.trustDomain,
      sequence: this.seq,
      generations: this.gens.map((g) => ({
        id: g.id,
        status: g.status,
        createdAt: g.createdAt,
        intermediate: g.intermediateNo,
        superseded: g.superseded,
      })),
    };
    writeFileAtomic(this.statePath(), JSON.stringify(state, null, 2) + '\n', 0o600);
  }

  /**
   * How long a new root is published in the bundle (`prepared`) before automatic rotation makes it
   * the issuer: every relying party has fetched the bundle by then. Remote gateways refetch it
   * at least every 5 minutes; agents write it with each renewal, at the latest after the longest
   * SVID lifetime.
   */
  private get activationDelayMs(): number {
    return (Math.max(this.svidTtl, this.maxSvidTtl) + 300) * 1000;
  }

  /** When a prepared root may become the issuer automatically: the third-life point of the active root, and not before it waited the activation delay. */
  private activationDue(active: Generation, prepared: Generation): number {
    return Math.max(thirdLifeLeftAt(active), Date.parse(prepared.createdAt) + this.activationDelayMs);
  }

  /**
   * Keeps the CA healthy: re-issues the intermediate at half-life, drops expired roots, and when a
   * third of the active root's life is left rotates in two steps, like `rotate --prepare-only` then
   * `rotate`: a new root is published (`prepared`) and becomes the issuer only once it has been in
   * the bundle for the activation delay. Cheap when nothing is due.
   */
  private async maintain(now = this.now()): Promise<void> {
    let changed = false;
    const before = this.gens.length;
    this.gens = this.gens.filter((g) => g.root.notAfter.getTime() > now);
    if (this.gens.length !== before) changed = true;
    for (const g of this.gens) {
      const live = g.superseded.filter((e) => Date.parse(e.notAfter) > now);
      if (live.length !== g.superseded.length) (g.superseded = live), (changed = true);
    }
    let active = this.active();
    if (!active) {
      // The active root expired while a new one waited: that one, already in every bundle.
      const waiting = this.gens.find((g) => g.status === 'prepared');
      if (waiting) waiting.status = 'active';
      else this.gens.push(await this.createGeneration('active'));
      active = this.active()!;
      changed = true;
    }
    if (now >= thirdLifeLeftAt(active)) {
      const prepared = this.gens.find((g) => g.status === 'prepared');
      if (!prepared) {
        await this.rotateNow(true);
        return;
      }
      if (now >= this.activationDue(active, prepared)) {
        await this.rotateNow(false);
        return;
      }
    }
    const iLife = active.intermediate.notAfter.getTime() - active.intermediate.notBefore.getTime();
    if (active.intermediate.notAfter.getTime() - now < iLife / 2 && active.intermediate.notAfter.getTime() < active.root.notAfter.getTime()) {
      const no = active.intermediateNo + 1;
      const { intermediate, intermediateKeys } = await this.issueIntermediate(active.id, no, active.root, active.rootKeys);
      // SVIDs it issued stay valid until they expire; if its key leaks it must stay revocable by serial.
      active.superseded = [
        ...active.superseded,
        { serial: normalizeSerial(active.intermediate.serialNumber), notAfter: active.intermediate.notAfter.toISOString(), certificate: toPem(active.intermediate) },
      ];
      Object.assign(active, { intermediate, intermediateKeys, intermediateNo: no });
      changed = true;
    }
    this.leafTemplate = null;
    this.refreshCaches(changed);
  }

  private refreshCaches(changed: boolean): void {
    this.intermediatesPemText = null;
    if (changed) {
      this.seq++;
      this.persist();
    }
    const pem = this.gens.map((g) => toPem(g.root)).join('');
    if (pem !== this.bundleCache || !existsSync(join(this.options.dataDir, 'bundle.pem'))) {
      this.bundleCache = pem;
      writeFileAtomic(join(this.options.dataDir, 'bundle.pem'), pem, 0o644);
    }
    this.jwksCache = null;
    const active = this.activeOrThrow();
    const prepared = this.gens.find((g) => g.status === 'prepared');
    this.nextMaintenance = Math.min(
      ...this.gens.map((g) => g.root.notAfter.getTime()),
      // A replaced intermediate leaves `ca show` (and the revocable serials) when it expires.
      ...this.gens.flatMap((g) => g.superseded.map((e) => Date.parse(e.notAfter))),
      active.intermediate.notAfter.getTime() - (active.intermediate.notAfter.getTime() - active.intermediate.notBefore.getTime()) / 2,
      // With a root waiting, the next step is its activation (never a time already past: that would run maintenance on every issuance).
      prepared ? this.activationDue(active, prepared) : thirdLifeLeftAt(active),
    );
  }

  private now(): number {
    return this.options.clock?.() ?? Date.now();
  }

  private nextMaintenance = 0;

  private activeOrThrow(): Generation {
    const a = this.active();
    if (!a) throw new WardenError('WARDEN_IDENTITY_CA_STATE_INVALID', 'no active CA generation');
    return a;
  }

  /** Hot-path guard: a number comparison unless maintenance is due. */
  private async ready(): Promise<Generation> {
    if (this.now() >= this.nextMaintenance) {
      this.rolling ??= this.maintain().finally(() => (this.rolling = null));
      await this.rolling;
    }
    return this.activeOrThrow();
  }

  private async rotateNow(prepareOnly: boolean): Promise<void> {
    let prepared = this.gens.find((g) => g.status === 'prepared');
    if (!prepared) {
      prepared = await this.createGeneration('prepared');
      this.gens.push(prepared);
    }
    if (!prepareOnly) {
      for (const g of this.gens) if (g.status === 'active') g.status = 'retired';
      prepared.status = 'active';
    }
    this.leafTemplate = null;
    this.refreshCaches(true);
  }

  async rotate(o: { prepareOnly?: boolean } = {}): Promise<CaGenerationInfo[]> {
    await this.rotateNow(o.prepareOnly === true);
    return this.generations();
  }

  generations(): CaGenerationInfo[] {
    return this.gens.map((g) => ({
      id: g.id,
      status: g.status,
      rootNotAfter: g.root.notAfter.toISOString(),
      intermediateNotAfter: g.intermediate.notAfter.toISOString(),
      intermediateSerial: normalizeSerial(g.intermediate.serialNumber),
      supersededIntermediates: g.superseded.map((e) => ({ serial: e.serial, notAfter: e.notAfter })),
      rootSubject: g.root.subject,
      jwtKeyId: g.jwtKid,
    }));
  }

  async listIssued(o: { spiffeId?: string; includeExpired?: boolean; limit?: number } = {}) {
    return this.issued ? this.issued.list(o) : [];
  }

  async pruneIssued(expiredBefore: Date): Promise<number> {
    if (!this.issued) return 0;
    // Records still queued for insertion go in first, so none is inserted after its prune.
    await this.issued.flush();
    return this.issued.prune(expiredBefore);
  }

  bundlePem(): string {
    return this.bundleCache;
  }

  intermediatesPem(): string {
    // Cached: the workload API completes every caller's chain with it. Reset by refreshCaches, which every change to the generations ends with.
    this.intermediatesPemText ??= this.gens.map((g) => this.intermediatePemFor(g) + g.superseded.map((e) => e.certificate ?? '').join('')).join('');
    return this.intermediatesPemText;
  }

  private intermediatesPemText: string | null = null;

  private intermediatePemFor(g: Generation): string {
    return g === this.active() ? this.intermediatePemCache(g) : toPem(g.intermediate);
  }

  intermediatePem(): string {
    return this.intermediatePemCache(this.activeOrThrow());
  }

  private intermediatePemCache(g: Generation): string {
    if (this.intermediatePemText?.gen !== g || this.intermediatePemText.no !== g.intermediateNo) {
      this.intermediatePemText = { gen: g, no: g.intermediateNo, pem: toPem(g.intermediate) };
    }
    return this.intermediatePemText.pem;
  }

  jwks(): SpiffeBundle {
    if (!this.jwksCache) {
      const keys: SpiffeJwk[] = [];
      for (const g of this.gens) {
        const spki = g.root.publicKey;
        const jwk = spkiToJwk(spki);
        keys.push({ ...jwk, use: 'x509-svid', x5c: [Buffer.from(g.root.rawData).toString('base64')] });
      }
      for (const g of this.gens) keys.push(g.jwtPublicJwk);
      // refresh hint: a quarter of the shortest SVID TTL, so relying parties see rotations in time.
      this.jwksCache = { keys, spiffe_sequence: this.seq, spiffe_refresh_hint: Math.max(60, Math.floor(this.svidTtl / 4)) };
    }
    return this.jwksCache;
  }

  private clampTtl(ttlSeconds: number | undefined, fallback: number, max: number): number {
    const ttl = ttlSeconds ?? fallback;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > max) {
      throw new WardenError('WARDEN_IDENTITY_TTL_INVALID', `ttl must be an integer between 1 and ${max} seconds`);
    }
    return ttl;
  }

  private signer(g: Generation): LeafSigner {
    if (g !== this.active()) {
      // Listener certificates under an older root (issueX509SvidFromCsr root: 'oldest'): rare, one cached signer.
      if (this.olderSigner?.gen !== g || this.olderSigner.no !== g.intermediateNo) this.olderSigner = { gen: g, no: g.intermediateNo, signer: leafSigner(new Uint8Array(g.intermediate.rawData), g.intermediateKeys.privateKey) };
      return this.olderSigner.signer;
    }
    this.leafTemplate ??= leafSigner(new Uint8Array(g.intermediate.rawData), g.intermediateKeys.privateKey);
    return this.leafTemplate;
  }

  private olderSigner: { gen: Generation; no: number; signer: LeafSigner } | null = null;

  /**
   * The generation a certificate is signed under: the active one, or for `oldest` the oldest
   * generation that has been active (retired ones first) whose intermediate outlives the
   * certificate. A listener certificate under that root verifies with a bundle.pem from before
   * the rotation as well as with a newer one, as long as the old root is in the bundle; once its
   * intermediate is too short-lived, certificates move to the active root. Never a generation
   * whose intermediate was revoked (a key compromise: nothing more may be issued under it).
   */
  private issuerFor(active: Generation, root: 'active' | 'oldest' | undefined, ttlSeconds: number): Generation {
    if (root !== 'oldest') return active;
    const until = Date.now() + ttlSeconds * 1000;
    return (
      this.gens.find(
        (g) => g.status !== 'prepared' && g.intermediate.notAfter.getTime() >= until && g.intermediate.notBefore.getTime() <= Date.now() && !this.revocations.hasSerial(g.intermediate.serialNumber),
      ) ?? active
    );
  }

  private async signLeaf(g: Generation, spki: Buffer, names: LeafName[], ttlSeconds: number, kind: 'x509' | 'server', spiffeId: string): Promise<{ certPem: string; serial: string; notBefore: Date; notAfter: Date }> {
    // Whole seconds: certificates carry no milliseconds and callers compare these dates.
    const now = Math.floor(Date.now() / 1000) * 1000;
    // Never outlive the issuer: a leaf valid past its intermediate would fail path validation.
    const notAfter = new Date(Math.min(now + ttlSeconds * 1000, g.intermediate.notAfter.getTime()));
    const notBefore = new Date(now - this.skewMs);
    const serial = randomSerialHex();
    const der = signLeafCertificate(this.signer(g), { serialHex: serial, spki, notBefore, notAfter, names });
    await this.issued?.record({ serial: normalizeSerial(serial), spiffeId, kind, notBefore, notAfter });
    return { certPem: derToPem(der, 'CERTIFICATE'), serial: normalizeSerial(serial), notBefore, notAfter };
  }

  /** A SPIFFE ID this CA may issue an SVID for: in its trust domain, and not the control plane's. */
  private workloadId(spiffeId: string): SpiffeId {
    return parseWorkloadSpiffeId(spiffeId, this.trustDomain);
  }

  async issueX509SvidFromCsr(csr: string | Uint8Array, o: { spiffeId: string; ttlSeconds?: number; dnsNames?: string[]; root?: 'active' | 'oldest' }): Promise<X509Svid> {
    const id = this.workloadId(o.spiffeId);
    const ttl = this.clampTtl(o.ttlSeconds, this.svidTtl, this.maxSvidTtl);
    const { spki } = parseAndVerifyCsr(checkCsrSize(csr));
    const names: LeafName[] = [{ type: 'uri', value: id.id }];
    for (const dns of o.dnsNames ?? []) {
      if (!/^[A-Za-z0-9*.-]{1,253}$/.test(dns)) throw new WardenError('WARDEN_INPUT_INVALID', 'invalid DNS name');
      names.push({ type: 'dns', value: dns });
    }
    const g = this.issuerFor(await this.ready(), o.root, ttl);
    const leaf = await this.signLeaf(g, spki, names, ttl, 'x509', id.id);
    return {
      spiffeId: id.id,
      serial: leaf.serial,
      certPem: leaf.certPem,
      chainPem: leaf.certPem + this.intermediatePemFor(g),
      bundlePem: this.bundleCache,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
    };
  }

  async issueServerCertificate(o: { dnsNames: string[]; ipAddresses: string[]; ttlSeconds?: number; spiffeId?: string }): Promise<ServerCertificate> {
    const g = await this.ready();
    const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
    const spiffeId = parseSpiffeId(o.spiffeId ?? `${this.trustDomainId}${CONTROL_PLANE_SPIFFE_PATH}`).id;
    const names: LeafName[] = [{ type: 'uri', value: spiffeId }];
    const seen = new Set<string>();
    for (const dns of o.dnsNames) {
      if (isIP(dns) !== 0 || seen.has(dns)) continue;
      if (!/^[A-Za-z0-9*.-]{1,253}$/.test(dns)) throw new WardenError('WARDEN_INPUT_INVALID', `invalid DNS name ${JSON.stringify(dns.slice(0, 64))}`);
      seen.add(dns);
      names.push({ type: 'dns', value: dns });
    }
    for (const ip of [...o.ipAddresses, ...o.dnsNames.filter((d) => isIP(d) !== 0)]) {
      if (isIP(ip) === 0) throw new WardenError('WARDEN_INPUT_INVALID', `not an IP address: ${ip}`);
      if (seen.has(ip)) continue;
      seen.add(ip);
      names.push({ type: 'ip', value: ipBytes(ip) });
    }
    // Server certificates live as long as the intermediate allows by default: listeners restart rarely.
    const ttl = this.clampTtl(o.ttlSeconds, 7 * 86_400, 365 * 86_400);
    const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
    const leaf = await this.signLeaf(g, spki, names, ttl, 'server', spiffeId);
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
    return {
      certPem: leaf.certPem,
      keyPem: derToPem(new Uint8Array(pkcs8), 'PRIVATE KEY'),
      chainPem: leaf.certPem + this.intermediatePemCache(g),
      notAfter: leaf.notAfter,
    };
  }

  async issueJwtSvid(o: { spiffeId: string; audience: string | string[]; ttlSeconds?: number; now?: Date; svidSerial?: string }): Promise<JwtSvid> {
    const id = this.workloadId(o.spiffeId);
    const audience = (Array.isArray(o.audience) ? o.audience : [o.audience]).filter((a) => typeof a === 'string' && a.length > 0);
    if (audience.length === 0) throw new WardenError('WARDEN_IDENTITY_AUDIENCE_REQUIRED', 'a JWT-SVID needs at least one audience (aud)');
    if (audience.some((a) => a.length > 512)) throw new WardenError('WARDEN_INPUT_INVALID', 'audience too long');
    const ttl = this.clampTtl(o.ttlSeconds, this.jwtTtl, 86_400);
    const g = await this.ready();
    const now = Math.floor((o.now ?? new Date()).getTime() / 1000);
    const token = await new SignJWT(o.svidSerial === undefined ? {} : { [JWT_SVID_SERIAL_CLAIM]: normalizeSerial(o.svidSerial) })
      .setProtectedHeader({ alg: this.jwtAlg, kid: g.jwtKid, typ: 'JWT' })
      .setSubject(id.id)
      .setAudience(audience.length === 1 ? audience[0]! : audience)
      .setIssuedAt(now)
      .setExpirationTime(now + ttl)
      .sign(g.jwtKey);
    return { spiffeId: id.id, token, audience, expiresAt: new Date((now + ttl) * 1000) };
  }

  async revoke(target: { spiffeId?: string; serial?: string; reason?: string; by?: string }): Promise<void> {
    if (!target.spiffeId === !target.serial) throw new WardenError('WARDEN_USAGE', 'give exactly one of spiffeId or serial');
    if (target.spiffeId) {
      const id = parseSpiffeId(target.spiffeId);
      if (id.trustDomain !== this.trustDomain) throw new WardenError('WARDEN_IDENTITY_TRUST_DOMAIN_MISMATCH', `${id.id} is not in trust domain ${this.trustDomain}`);
      await this.revocations.add({ kind: 'spiffe_id', value: id.id, reason: target.reason, by: target.by });
      return;
    }
    const serial = normalizeSerial(target.serial!);
    if (!/^[0-9a-f]{1,40}$/i.test(target.serial!.replace(/:/g, ''))) throw new WardenError('WARDEN_INPUT_INVALID', 'serial must be hex');
    // One of this CA's intermediates: every SVID it issued is revoked with it (verifiers check the
    // chain), and issuerFor issues nothing more under it. Only a retired generation's, or one a
    // renewal replaced: the active one issues every new SVID, a prepared one will.
    const intermediate = this.gens.find((g) => normalizeSerial(g.intermediate.serialNumber) === serial);
    if (intermediate && intermediate.status !== 'retired') {
      throw new WardenError('WARDEN_CONFLICT', `serial ${serial} is the ${intermediate.status} intermediate, which ${intermediate.status === 'active' ? 'issues' : 'will issue'} every new SVID; rotate to a new generation first (warden identity ca rotate), then revoke it`);
    }
    const superseded = intermediate ? undefined : this.gens.flatMap((g) => g.superseded).find((e) => e.serial === serial);
    const known = intermediate ? { notAfter: intermediate.intermediate.notAfter } : superseded ? { notAfter: new Date(superseded.notAfter) } : this.issued ? await this.issued.find(serial) : null;
    if (this.issued && !known) throw new WardenError('WARDEN_IDENTITY_REVOCATION_NOT_FOUND', `no certificate with serial ${serial} was issued by this CA`);
    await this.revocations.add({ kind: 'serial', value: serial, reason: target.reason, by: target.by, expiresAt: known?.notAfter ?? null });
  }

  async crl(): Promise<{ der: Uint8Array; pem: string }> {
    const g = await this.ready();
    const now = new Date();
    const entries = new Map<string, Date>();
    const idRevocations: string[] = [];
    for (const e of this.revocations.entries()) {
      if (e.kind === 'serial') entries.set(e.value, new Date(e.revokedAt));
      else idRevocations.push(e.value);
    }
    if (this.issued) {
      for (const s of await this.issued.activeSerialsOf(idRevocations, now)) if (!entries.has(s.serial)) entries.set(s.serial, now);
    }
    const der = signCrl(this.signer(g), {
      thisUpdate: new Date(now.getTime() - this.skewMs),
      // Verifiers re-fetch well before the next SVID rotation.
      nextUpdate: new Date(now.getTime() + Math.max(300, this.svidTtl / 2) * 1000),
      crlNumber: Math.floor(now.getTime() / 1000),
      entries: [...entries].map(([serialHex, revokedAt]) => ({ serialHex, revokedAt })),
    });
    return { der: new Uint8Array(der), pem: derToPem(der, 'X509 CRL') };
  }

  async close(): Promise<void> {
    await this.issued?.flush();
  }
}

/** Signing under a certificate with another key yields chains no verifier accepts: refuse to start instead. */
async function assertKeyMatches(cert: x509.X509Certificate, keys: CryptoKeyPair, what: string, keyName: string): Promise<void> {
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  if (!spki.equals(Buffer.from(cert.publicKey.rawData))) {
    throw new WardenError('WARDEN_IDENTITY_CA_STATE_INVALID', `the ${what} does not belong to CA key ${keyName} (see "CA files" in docs/identity.md)`);
  }
}

/** When a third of the generation's root life is left: automatic rotation starts then. */
function thirdLifeLeftAt(g: { root: x509.X509Certificate }): number {
  const notAfter = g.root.notAfter.getTime();
  return notAfter - (notAfter - g.root.notBefore.getTime()) / 3;
}

function checkCsrSize(csr: string | Uint8Array): string | Uint8Array {
  const size = typeof csr === 'string' ? csr.length : csr.byteLength;
  if (size === 0 || size > MAX_CSR_BYTES) throw new WardenError('WARDEN_IDENTITY_CSR_INVALID', `CSR must be 1..${MAX_CSR_BYTES} bytes`);
  return csr;
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // Expand IPv6 (with ::) to 16 bytes.
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function spkiToJwk(pk: x509.PublicKey): { kty: string; crv: string; x: string; y: string } {
  // Uncompressed P-256 point at the end of the SPKI: 0x04 || X(32) || Y(32).
  const raw = Buffer.from(pk.rawData);
  const point = raw.subarray(raw.length - 65);
  if (point[0] !== 0x04) throw new WardenError('WARDEN_IDENTITY_CA_KEY_INVALID', 'unexpected root key encoding');
  return { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') };
}

export function sha256Fingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

