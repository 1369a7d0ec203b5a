import { copyFile, mkdir, readFile, readdir, rename, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { WardenError } from '../../errors/index.js';
import { sealFile, openFile, rewrapDataKey, writeFileAtomic, type KeyProvider, type SealedKeyRecord } from '../../crypto/index.js';
import { hashRange } from '../manifest/index.js';

export interface StoredBlob {
  id: string;
  sha256: string;
  size: number;
  encrypted: boolean;
  kekId?: string;
}

export interface ArtifactVaultOptions {
  /** Refuse plaintext storage (config artifacts.encryption.required). */
  encryptionRequired: boolean;
  chunkBytes?: number;
}

/**
 * Files Warden keeps on behalf of users (model weights, datasets), content-addressed by SHA-256
 * under `<dataDir>/artifacts/blobs`. Encrypted blobs are `<id>.wenc` plus `<id>.key.json`
 * (the wrapped data key); key rotation rewrites only the `.key.json` files.
 */
export class ArtifactVault {
  constructor(
    readonly dir: string,
    private readonly keys: KeyProvider,
    private readonly options: ArtifactVaultOptions,
  ) {}

  static blobDir(dataDir: string): string {
    return join(dataDir, 'artifacts', 'blobs');
  }

  async store(path: string, opts: { encrypt: boolean }): Promise<StoredBlob> {
    if (!opts.encrypt && this.options.encryptionRequired) {
      throw new WardenError('WARDEN_ARTIFACT_ENCRYPTION_REQUIRED', 'policy requires encryption (artifacts.encryption.required); store with encryption');
    }
    const st = await stat(path).catch((cause: unknown) => {
      throw new WardenError('WARDEN_ARTIFACT_PATH_INVALID', `${path} does not exist`, { cause });
    });
    if (!st.isFile()) throw new WardenError('WARDEN_ARTIFACT_PATH_INVALID', `${path} is not a regular file`);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    if (!opts.encrypt) {
      const sha256 = await hashRange({ path, start: 0, end: st.size });
      const tmp = join(this.dir, `.${sha256}.${randomBytes(4).toString('hex')}.tmp`);
      await copyFile(path, tmp);
      await rename(tmp, join(this.dir, `${sha256}.blob`));
      return { id: sha256, sha256, size: st.size, encrypted: false };
    }
    // The id is only known after hashing, so seal under a random context-bound name first, then rename.
    const context = `blob:${randomBytes(16).toString('hex')}`;
    const tmpData = join(this.dir, `.${context.slice(5)}.wenc`);
    const record = await sealFile(path, tmpData, this.keys, { context, ...(this.options.chunkBytes ? { chunkBytes: this.options.chunkBytes } : {}) });
    const id = record.sha256;
    writeFileAtomic(join(this.dir, `${id}.key.json`), JSON.stringify(record), 0o600);
    await rename(tmpData, join(this.dir, `${id}.wenc`));
    return { id, sha256: id, size: record.size, encrypted: true, kekId: record.wrappedKey.kekId };
  }

  async retrieve(id: string, dst: string): Promise<void> {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new WardenError('WARDEN_INPUT_INVALID', 'blob ids are SHA-256 hex digests');
    const sealed = join(this.dir, `${id}.wenc`);
    if (existsSync(sealed)) {
      await openFile(sealed, dst, await this.record(id), this.keys);
      return;
    }
    const plain = join(this.dir, `${id}.blob`);
    if (!existsSync(plain)) throw new WardenError('WARDEN_ARTIFACT_NOT_FOUND', `blob ${id} is not stored`);
    const tmp = `${dst}.${randomBytes(4).toString('hex')}.tmp`;
    await copyFile(plain, tmp);
    await rename(tmp, dst);
  }

  private async record(id: string): Promise<SealedKeyRecord> {
    try {
      return JSON.parse(await readFile(join(this.dir, `${id}.key.json`), 'utf8')) as SealedKeyRecord;
    } catch (cause) {
      throw new WardenError('WARDEN_ENVELOPE_INVALID', `the wrapped data key of blob ${id} is missing or unreadable`, { cause });
    }
  }

  /** New KEK, then every data key re-wrapped under it. Returns the new KEK id and how many keys were re-wrapped. */
  async rotateKeys(): Promise<{ kekId: string; rewrapped: number }> {
    const kekId = await this.keys.rotate();
    let rewrapped = 0;
    const names = existsSync(this.dir) ? await readdir(this.dir) : [];
    for (const name of names) {
      const m = /^([0-9a-f]{64})\.key\.json$/.exec(name);
      if (!m) continue;
      const next = await rewrapDataKey(await this.record(m[1]!), this.keys);
      writeFileAtomic(join(this.dir, name), JSON.stringify(next), 0o600);
      rewrapped++;
    }
    return { kekId, rewrapped };
  }
}
