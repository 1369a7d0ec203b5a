import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { canonicalJson } from '../audit/index.js';
import { writeFileAtomic, readSecretFile, pathTaken } from '../crypto/index.js';
import { WardenError } from '../errors/index.js';
import type { CedarEntityJson } from './cedar/EntityStore.js';

/** What the control plane pushes to PEPs: one policy set version, signed. */
export interface PolicyBundle {
  version: number;
  policies: string;
  entities: CedarEntityJson[];
  schema: string | null;
  /** Key id of the signer (SHA-256 of its SPKI, first 16 hex). */
  keyId: string;
  /** Ed25519 signature over canonical JSON of { version, policies, entities, schema }, base64url. */
  signature: string;
}

export interface BundleKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyId: string;
  /** SPKI PEM: what PEPs are configured to trust. */
  publicKeyPem: string;
}

export function bundleKeyPath(dataDir: string): string {
  return join(dataDir, 'keys', 'policy-bundle.key');
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

function toBundleKey(privateKey: KeyObject): BundleKey {
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyIdOf(publicKey), publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** The control plane's bundle signing key: `<dataDir>/keys/policy-bundle.key` (PKCS#8 PEM, 0600), created on first use. */
export function loadOrCreateBundleKey(dataDir: string): BundleKey {
  const path = bundleKeyPath(dataDir);
  if (pathTaken(path)) {
    const key = createPrivateKey(readSecretFile(path));
    if (key.asymmetricKeyType !== 'ed25519') throw new WardenError('WARDEN_POLICY_BUNDLE_INVALID', `${path} is not an Ed25519 key`);
    return toBundleKey(key);
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileAtomic(path, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
  return toBundleKey(privateKey);
}

function signedBytes(b: { version: number; policies: string; entities: CedarEntityJson[]; schema: string | null }): Buffer {
  return Buffer.from(canonicalJson({ version: b.version, policies: b.policies, entities: b.entities, schema: b.schema }));
}

export function signBundle(content: { version: number; policies: string; entities?: CedarEntityJson[]; schema?: string | null }, key: BundleKey): PolicyBundle {
  const body = { version: content.version, policies: content.policies, entities: content.entities ?? [], schema: content.schema ?? null };
  return { ...body, keyId: key.keyId, signature: sign(null, signedBytes(body), key.privateKey).toString('base64url') };
}

export interface VerifyBundleOptions {
  /** The version the PEP holds now: an older or equal bundle is refused (replay). */
  installedVersion?: number;
}

/**
 * Checks shape, signature (Ed25519 with the trusted key) and freshness of a bundle before a
 * PEP swaps it in. Throws WARDEN_POLICY_BUNDLE_INVALID / _SIGNATURE_INVALID / _STALE.
 */
export function verifyBundle(bundle: unknown, trusted: KeyObject | string, options: VerifyBundleOptions = {}): PolicyBundle {
  const b = bundle as Partial<PolicyBundle> | null;
  if (
    !b ||
    typeof b !== 'object' ||
    !Number.isSafeInteger(b.version) ||
    (b.version as number) < 1 ||
    typeof b.policies !== 'string' ||
    !Array.isArray(b.entities) ||
    !(b.schema === null || typeof b.schema === 'string') ||
    typeof b.signature !== 'string' ||
    typeof b.keyId !== 'string'
  ) {
    throw new WardenError('WARDEN_POLICY_BUNDLE_INVALID', 'bundle must have version, policies, entities, schema, keyId and signature');
  }
  const key = typeof trusted === 'string' ? createPublicKey(trusted) : trusted;
  const ok = verify(null, signedBytes(b as PolicyBundle), key, Buffer.from(b.signature, 'base64url'));
  if (!ok) throw new WardenError('WARDEN_POLICY_BUNDLE_SIGNATURE_INVALID', `policy bundle version ${b.version} is not signed by the trusted key`);
  if (options.installedVersion !== undefined && (b.version as number) <= options.installedVersion) {
    throw new WardenError('WARDEN_POLICY_BUNDLE_STALE', `bundle version ${b.version} is not newer than installed version ${options.installedVersion}`);
  }
  return b as PolicyBundle;
}
