import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { WardenError } from '../../errors/index.js';
import { writeFileAtomic, ensurePrivateDir, readSecretFile } from '../files.js';
import type { KeyProvider, WrappedDataKey } from './KeyProvider.js';

const KEK_FILE = /^kek-([0-9a-f]{16})\.key$/;
const CURRENT_FILE = 'kek-current';

/**
 * KEKs as files `<dir>/kek-<id>.key` (32 random bytes, mode 0600) and a `kek-current` pointer.
 * Wrapping is AES-256-GCM with the KEK id and the caller's context as associated data.
 */
export class FileKeyProvider implements KeyProvider {
  readonly name = 'file';
  private readonly cache = new Map<string, Buffer>();

  constructor(readonly dir: string) {}

  async currentKeyId(): Promise<string> {
    const pointer = join(this.dir, CURRENT_FILE);
    if (!existsSync(pointer)) return this.rotate();
    const id = readSecretFile(pointer).toString('utf8').trim();
    if (!/^[0-9a-f]{16}$/.test(id)) throw new WardenError('WARDEN_KEYPROVIDER_KEY_NOT_FOUND', `${pointer} does not name a key`);
    return id;
  }

  async rotate(): Promise<string> {
    ensurePrivateDir(this.dir);
    const id = randomBytes(8).toString('hex');
    const key = randomBytes(32);
    writeFileAtomic(join(this.dir, `kek-${id}.key`), key, 0o600);
    writeFileAtomic(join(this.dir, CURRENT_FILE), id + '\n', 0o600);
    this.cache.set(id, key);
    return id;
  }

  async listKeyIds(): Promise<string[]> {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .map((f) => KEK_FILE.exec(f)?.[1])
      .filter((x): x is string => x !== undefined)
      .sort();
  }

  private kek(id: string): Buffer {
    const cached = this.cache.get(id);
    if (cached) return cached;
    if (!/^[0-9a-f]{16}$/.test(id)) throw new WardenError('WARDEN_KEYPROVIDER_KEY_NOT_FOUND', 'malformed key-encryption key id');
    const path = join(this.dir, `kek-${id}.key`);
    if (!existsSync(path)) throw new WardenError('WARDEN_KEYPROVIDER_KEY_NOT_FOUND', `key-encryption key ${id} is not in ${this.dir}`);
    const key = readSecretFile(path);
    if (key.length !== 32) throw new WardenError('WARDEN_KEYPROVIDER_KEY_NOT_FOUND', `key-encryption key ${id} is not 32 bytes`);
    this.cache.set(id, key);
    return key;
  }

  async wrap(dataKey: Uint8Array, context: string): Promise<WrappedDataKey> {
    const kekId = await this.currentKeyId();
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.kek(kekId), iv);
    cipher.setAAD(aad(kekId, context));
    const ciphertext = Buffer.concat([cipher.update(dataKey), cipher.final()]);
    return { kekId, alg: 'A256GCM', iv: iv.toString('base64'), ciphertext: ciphertext.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
  }

  async unwrap(wrapped: WrappedDataKey, context: string): Promise<Buffer> {
    const kek = this.kek(wrapped.kekId);
    try {
      const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(wrapped.iv, 'base64'));
      decipher.setAAD(aad(wrapped.kekId, context));
      decipher.setAuthTag(Buffer.from(wrapped.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(wrapped.ciphertext, 'base64')), decipher.final()]);
    } catch (cause) {
      throw new WardenError('WARDEN_KEYPROVIDER_UNWRAP_FAILED', undefined, { cause });
    }
  }
}

function aad(kekId: string, context: string): Buffer {
  return Buffer.from(`warden-dek-wrap/v1\0${kekId}\0${context}`);
}
