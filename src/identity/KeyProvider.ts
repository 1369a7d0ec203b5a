import { existsSync, readdirSync, rmSync } from 'node:fs';
import type { CryptoKey, CryptoKeyPair, EcKeyGenParams, Algorithm } from './webcryptoTypes.js';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import { PemConverter } from '@peculiar/x509';
import { writeFileAtomic, ensurePrivateDir, removeStaleTempFiles, fsyncDir, readSecretFile } from '../crypto/index.js';
import { WardenError } from '../errors/index.js';

export type KeyAlgorithm = 'ES256' | 'EdDSA';

export const keyAlgorithms: Record<KeyAlgorithm, EcKeyGenParams | Algorithm> = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' } as EcKeyGenParams,
  EdDSA: { name: 'Ed25519' },
};

/**
 * Where CA keys live. SPIRE-style plugin seam: the file provider is the default; a PKCS#11
 * provider implements the same two calls without ever exporting the private key.
 */
export interface KeyProvider {
  readonly kind: string;
  /** Returns the key pair named `name`, creating it on first use. */
  loadOrCreate(name: string, algorithm: KeyAlgorithm): Promise<CryptoKeyPair>;
  /**
   * Returns the existing key pair named `name`; a missing key is WARDEN_IDENTITY_CA_KEY_INVALID.
   * Keys a certificate already names are loaded with this: a new key could never match it.
   */
  load(name: string, algorithm: KeyAlgorithm): Promise<CryptoKeyPair>;
  /** Whether a key with this name exists. */
  has(name: string): boolean;
  /** Names of the keys held, so the CA can remove those of abandoned generations (optional: such keys are then kept). */
  names?(): string[];
  /** Deletes a key the CA no longer references. */
  remove?(name: string): void;
}

/** PKCS#8 PEM files, mode 0600, in a 0700 directory; written atomically. */
export class FileKeyProvider implements KeyProvider {
  readonly kind = 'file';
  constructor(private readonly dir: string) {
    ensurePrivateDir(dir);
    // A crash between write and rename leaves a temp copy of a private key; only this provider writes here.
    removeStaleTempFiles(dir);
  }

  has(name: string): boolean {
    return existsSync(this.pathOf(name));
  }

  names(): string[] {
    return readdirSync(this.dir)
      .filter((f) => /^[a-z0-9-]+\.key$/.test(f))
      .map((f) => f.slice(0, -'.key'.length));
  }

  remove(name: string): void {
    rmSync(this.pathOf(name), { force: true });
    fsyncDir(this.dir);
  }

  private pathOf(name: string): string {
    if (!/^[a-z0-9-]+$/.test(name)) throw new WardenError('WARDEN_INPUT_INVALID', `bad key name ${name}`);
    return join(this.dir, `${name}.key`);
  }

  async load(name: string, algorithm: KeyAlgorithm): Promise<CryptoKeyPair> {
    const path = this.pathOf(name);
    if (!existsSync(path)) throw new WardenError('WARDEN_IDENTITY_CA_KEY_INVALID', `CA key ${path} does not exist`);
    // Outside the try: a key others can read or swap is WARDEN_FILE_UNSAFE, not a malformed key.
    const pem = readSecretFile(path).toString('utf8');
    let privateKey: CryptoKey;
    try {
      const der = PemConverter.decodeFirst(pem);
      privateKey = await webcrypto.subtle.importKey('pkcs8', der, keyAlgorithms[algorithm], true, ['sign']);
    } catch (cause) {
      throw new WardenError('WARDEN_IDENTITY_CA_KEY_INVALID', `cannot load CA key ${path}`, { cause });
    }
    return { privateKey, publicKey: await publicKeyOf(privateKey) };
  }

  async loadOrCreate(name: string, algorithm: KeyAlgorithm): Promise<CryptoKeyPair> {
    const path = this.pathOf(name);
    const alg = keyAlgorithms[algorithm];
    if (existsSync(path)) return this.load(name, algorithm);
    const pair = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', pair.privateKey);
    writeFileAtomic(path, PemConverter.encode(pkcs8, 'PRIVATE KEY'), 0o600);
    return pair;
  }
}

/** Derives the public key from an extractable private key (via JWK, dropping the private part). */
export async function publicKeyOf(privateKey: CryptoKey): Promise<CryptoKey> {
  const jwk = await webcrypto.subtle.exportKey('jwk', privateKey);
  delete jwk.d;
  jwk.key_ops = ['verify'];
  return webcrypto.subtle.importKey('jwk', jwk, privateKey.algorithm, true, ['verify']);
}
