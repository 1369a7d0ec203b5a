import { mkdir, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
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
      // The id is the digest of the copy itself, so the blob is what its name says.
      const tmp = join(this.dir, `.${randomBytes(8).toString('hex')}.blob.tmp`);
      const { sha256, size } = await copyHashing(path, tmp);
      await rename(tmp, join(this.dir, `${sha256}.blob`));
      return { id: sha256, sha256, size, encrypted: false };
    }
    // The context binds the wrapped key and every chunk to the blob id, so the id is hashed first;
    // sealing hashes the same bytes again, and a file that changed in between is refused.
    const id = await hashRange({ path, start: 0, end: st.size });
    const tmpData = join(this.dir, `.${randomBytes(8).toString('hex')}.wenc`);
    const record = await sealFile(path, tmpData, this.keys, { context: blobContext(id), ...(this.options.chunkBytes ? { chunkBytes: this.options.chunkBytes } : {}) });
    if (record.sha256 !== id) {
      await unlink(tmpData).catch(() => undefined);
      throw new WardenError('WARDEN_ARTIFACT_DIGEST_MISMATCH', `${path} changed while it was being stored; nothing was stored`);
    }
    writeFileAtomic(join(this.dir, `${id}.key.json`), JSON.stringify(record), 0o600);
    await rename(tmpData, join(this.dir, `${id}.wenc`));
    return { id, sha256: id, size: record.size, encrypted: true, kekId: record.wrappedKey.kekId };
  }

  /**
   * Writes blob `id` to `dst` only if what comes out has digest `id`. A plaintext `.blob` is
   * used only when policy does not require encryption: deleting a `.wenc` must not downgrade a
   * retrieval to unauthenticated plaintext.
   */
  async retrieve(id: string, dst: string): Promise<void> {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new WardenError('WARDEN_INPUT_INVALID', 'blob ids are SHA-256 hex digests');
    const sealed = join(this.dir, `${id}.wenc`);
    if (existsSync(sealed)) {
      const record = await this.record(id);
      // Blobs stored before the context carried the id have `blob:<32 random hex>`; they are still bound by sha256 below.
      if (record.context !== blobContext(id) && !/^blob:[0-9a-f]{32}$/.test(String(record.context))) {
        throw new WardenError('WARDEN_ENVELOPE_INVALID', `the wrapped data key of blob ${id} is bound to another blob`);
      }
      await openFile(sealed, dst, record, this.keys, { expectedSha256: id });
      return;
    }
    const plain = join(this.dir, `${id}.blob`);
    if (!existsSync(plain)) throw new WardenError('WARDEN_ARTIFACT_NOT_FOUND', `blob ${id} is not stored`);
    if (this.options.encryptionRequired) {
      throw new WardenError('WARDEN_ARTIFACT_ENCRYPTION_REQUIRED', `blob ${id} has no encrypted copy and policy requires encryption (artifacts.encryption.required)`);
    }
    const tmp = `${dst}.${randomBytes(4).toString('hex')}.tmp`;
    const { sha256 } = await copyHashing(plain, tmp);
    if (sha256 !== id) {
      await unlink(tmp).catch(() => undefined);
      throw new WardenError('WARDEN_ARTIFACT_DIGEST_MISMATCH', `blob ${id} does not have the digest it is stored under; nothing was written`);
    }
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

/** The envelope context of a blob: its id, bound into the wrapped key and every chunk. */
function blobContext(id: string): string {
  return `blob:${id}`;
}

/** Copies `src` to a new file `dst` (0600) and returns the SHA-256 and size of the bytes written. */
async function copyHashing(src: string, dst: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    await pipeline(
      createReadStream(src),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          hash.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(dst, { flags: 'wx', mode: 0o600 }),
    );
  } catch (cause) {
    await unlink(dst).catch(() => undefined);
    throw new WardenError('WARDEN_IO', `cannot copy ${src}`, { cause });
  }
  return { sha256: hash.digest('hex'), size };
}
