import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, X509Certificate, createHash, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { WardenError } from '../../errors/index.js';
import { writeFileAtomic, readSecretFile, pathTaken } from '../../crypto/index.js';
import { uriSans } from '../../identity/SpiffeId.js';

export type SigningAlgorithm = 'ed25519' | 'ecdsa-p256';

/** Something that can sign a DSSE pre-authentication encoding. */
export interface ArtifactSigner {
  /** SHA-256 of the DER SubjectPublicKeyInfo, hex: the DSSE `keyid` and the Sigstore key hint. */
  readonly keyId: string;
  readonly publicKey: KeyObject;
  /** DER of the X.509-SVID when this is a workload key; undefined for a Warden signing key. */
  readonly certificateDer?: Buffer;
  /** DER of CA intermediates between the SVID and the trust bundle (SVID chains are leaf → intermediate → root). */
  readonly intermediatesDer?: Buffer[];
  /** SPIFFE ID from the certificate, if any. */
  readonly spiffeId?: string;
  sign(data: Buffer): Buffer;
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

function checkKeyType(key: KeyObject): void {
  const t = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (t === 'ed25519' || (t === 'ec' && curve === 'prime256v1')) return;
  throw new WardenError('WARDEN_ARTIFACT_SIGNING_KEY_INVALID', `signing keys must be Ed25519 or ECDSA P-256 (got ${t ?? 'unknown'}${curve ? ` ${curve}` : ''})`);
}

/** DSSE signatures: Ed25519 signs the message itself; ECDSA P-256 uses SHA-256 with a DER signature (as Sigstore and python-cryptography do). */
function signWith(key: KeyObject, data: Buffer): Buffer {
  return cryptoSign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, key);
}

export function signerFromPrivateKey(privateKeyPem: string | Buffer, certificatePem?: string | Buffer): ArtifactSigner {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (cause) {
    throw new WardenError('WARDEN_ARTIFACT_SIGNING_KEY_INVALID', 'the private key is not a readable PEM key', { cause });
  }
  checkKeyType(key);
  const publicKey = createPublicKey(key);
  let certificateDer: Buffer | undefined;
  let intermediatesDer: Buffer[] | undefined;
  let spiffeId: string | undefined;
  if (certificatePem !== undefined) {
    let chain: X509Certificate[];
    try {
      const blocks = certificatePem.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      chain = blocks.map((b) => new X509Certificate(b));
    } catch (cause) {
      throw new WardenError('WARDEN_ARTIFACT_SIGNING_KEY_INVALID', 'the certificate is not a readable PEM X.509 certificate', { cause });
    }
    const cert = chain[0];
    if (!cert) throw new WardenError('WARDEN_ARTIFACT_SIGNING_KEY_INVALID', 'no PEM certificate found');
    if (chain.length > 1) intermediatesDer = chain.slice(1).map((c) => c.raw);
    if (!cert.publicKey.equals(publicKey)) throw new WardenError('WARDEN_ARTIFACT_SIGNING_KEY_INVALID', 'the certificate does not match the private key');
    spiffeId = spiffeIdOf(cert);
    certificateDer = cert.raw;
  }
  return {
    keyId: keyIdOf(publicKey),
    publicKey,
    ...(certificateDer ? { certificateDer } : {}),
    ...(intermediatesDer ? { intermediatesDer } : {}),
    ...(spiffeId ? { spiffeId } : {}),
    sign: (data) => signWith(key, data),
  };
}

/** The single URI SAN of an X.509-SVID (SPIFFE X509-SVID §4.1), or undefined. */
export function spiffeIdOf(cert: X509Certificate): string | undefined {
  const uris = uriSans(cert.subjectAltName);
  if (uris.length !== 1 || !uris[0]!.startsWith('spiffe://')) return undefined;
  return uris[0];
}

export const WARDEN_SIGNING_KEY_FILE = 'artifact-signing.key';

/** `<dataDir>/keys/artifact-signing.key` (PKCS#8 PEM, 0600), created on first use. */
export function loadOrCreateWardenSigningKey(dataDir: string, algorithm: SigningAlgorithm = 'ed25519'): ArtifactSigner {
  const path = join(dataDir, 'keys', WARDEN_SIGNING_KEY_FILE);
  if (!pathTaken(path)) {
    const { privateKey } =
      algorithm === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileAtomic(path, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
  }
  return signerFromPrivateKey(readSecretFile(path));
}

/** Public half of the Warden signing key, or undefined before it was created. */
export function readWardenSigningPublicKey(dataDir: string): KeyObject | undefined {
  const path = join(dataDir, 'keys', WARDEN_SIGNING_KEY_FILE);
  if (!pathTaken(path)) return undefined;
  return createPublicKey(createPrivateKey(readSecretFile(path)));
}
