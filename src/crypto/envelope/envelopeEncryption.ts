import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { open, rename, unlink, mkdir } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { WardenError } from '../../errors/index.js';
import type { KeyProvider, WrappedDataKey } from '../keyProvider/index.js';

/**
 * Envelope encryption: each artifact gets its own AES-256-GCM data key, wrapped by the provider's
 * KEK. The data is cut into chunks sealed with the STREAM construction (nonce = 7-byte random
 * prefix ‖ 32-bit chunk counter ‖ last-chunk flag), so a file of any size is encrypted and
 * authenticated in constant memory, and truncation or reordering of chunks is detected.
 * Rotation re-wraps the data key (a few bytes) and never touches the data.
 */
export interface SealedKeyRecord {
  version: 1;
  /** Bound into the wrapped key and every chunk: the artifact/blob id. */
  context: string;
  wrappedKey: WrappedDataKey;
  /** Plaintext size and SHA-256, checked again after decryption. */
  size: number;
  sha256: string;
}

const MAGIC = Buffer.from('WENC');
const HEADER_BYTES = 4 + 1 + 4 + 7;
const TAG_BYTES = 16;
export const DEFAULT_CHUNK_BYTES = 1024 * 1024;
const MAX_CHUNKS = 2 ** 32 - 1;

function header(chunkBytes: number, noncePrefix: Buffer): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(h, 0);
  h[4] = 1;
  h.writeUInt32BE(chunkBytes, 5);
  noncePrefix.copy(h, 9);
  return h;
}

function nonce(prefix: Buffer, index: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0);
  n.writeUInt32BE(index, 7);
  n[11] = last ? 1 : 0;
  return n;
}

function chunkAad(head: Buffer, context: string): Buffer {
  return Buffer.concat([head, Buffer.from(context)]);
}

async function atomicOutput(dst: string): Promise<{ tmp: string; commit(): Promise<void>; abort(): Promise<void> }> {
  await mkdir(dirname(dst), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(dst), `.${basename(dst)}.${randomBytes(6).toString('hex')}.tmp`);
  return {
    tmp,
    commit: () => rename(tmp, dst),
    abort: () => unlink(tmp).catch(() => undefined),
  };
}

export async function sealFile(src: string, dst: string, provider: KeyProvider, options: { context: string; chunkBytes?: number }): Promise<SealedKeyRecord> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const dataKey = randomBytes(32);
  const prefix = randomBytes(7);
  const head = header(chunkBytes, prefix);
  const aad = chunkAad(head, options.context);
  const out = await atomicOutput(dst);
  const input = await open(src, 'r').catch((cause: unknown) => {
    throw new WardenError('WARDEN_ARTIFACT_PATH_INVALID', `cannot read ${src}`, { cause });
  });
  const output = await open(out.tmp, 'wx', 0o600);
  try {
    const { size } = await input.stat();
    const chunks = Math.max(1, Math.ceil(size / chunkBytes));
    if (chunks > MAX_CHUNKS) throw new WardenError('WARDEN_INPUT_INVALID', 'artifact too large for this chunk size');
    const digest = createHash('sha256');
    const buf = Buffer.allocUnsafe(chunkBytes);
    await output.write(head);
    for (let i = 0; i < chunks; i++) {
      const { bytesRead } = await input.read(buf, 0, Math.min(chunkBytes, size - i * chunkBytes), i * chunkBytes);
      const plain = buf.subarray(0, bytesRead);
      digest.update(plain);
      const cipher = createCipheriv('aes-256-gcm', dataKey, nonce(prefix, i, i === chunks - 1));
      cipher.setAAD(aad);
      await output.write(Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]));
    }
    await output.sync();
    await output.close();
    const wrappedKey = await provider.wrap(dataKey, options.context);
    await out.commit();
    return { version: 1, context: options.context, wrappedKey, size, sha256: digest.digest('hex') };
  } catch (err) {
    await output.close().catch(() => undefined);
    await out.abort();
    throw err;
  } finally {
    dataKey.fill(0);
    await input.close();
  }
}

/**
 * Decrypts to `dst` atomically: nothing is written at `dst` unless every chunk authenticated.
 * `expectedSha256` is the digest the caller asked for (a content address): a record of other
 * content (e.g. another blob's `.wenc` + `.key.json` swapped in) is refused before any decryption.
 */
export async function openFile(src: string, dst: string, record: SealedKeyRecord, provider: KeyProvider, options: { expectedSha256?: string } = {}): Promise<void> {
  if (options.expectedSha256 !== undefined && record.sha256 !== options.expectedSha256) {
    throw new WardenError('WARDEN_ENVELOPE_INVALID', 'the wrapped data key record is for other content than the one requested');
  }
  const dataKey = await provider.unwrap(record.wrappedKey, record.context);
  const out = await atomicOutput(dst);
  const input = await open(src, 'r');
  const output = await open(out.tmp, 'wx', 0o600);
  try {
    const { size } = await input.stat();
    const head = Buffer.alloc(HEADER_BYTES);
    await input.read(head, 0, HEADER_BYTES, 0);
    if (size < HEADER_BYTES + TAG_BYTES || !head.subarray(0, 4).equals(MAGIC) || head[4] !== 1) throw new WardenError('WARDEN_ENVELOPE_INVALID', `${src} is not a Warden encrypted artifact`);
    const chunkBytes = head.readUInt32BE(5);
    if (chunkBytes < 1 || chunkBytes > 64 * 1024 * 1024) throw new WardenError('WARDEN_ENVELOPE_INVALID', 'bad chunk size');
    const prefix = head.subarray(9, 16);
    const aad = chunkAad(head, record.context);
    const body = size - HEADER_BYTES;
    const sealed = chunkBytes + TAG_BYTES;
    const chunks = Math.max(1, Math.ceil(body / sealed));
    const digest = createHash('sha256');
    const buf = Buffer.allocUnsafe(sealed);
    let plainSize = 0;
    for (let i = 0; i < chunks; i++) {
      const len = Math.min(sealed, body - i * sealed);
      if (len < TAG_BYTES) throw new WardenError('WARDEN_ENVELOPE_DECRYPT_FAILED', 'the encrypted artifact is truncated');
      await input.read(buf, 0, len, HEADER_BYTES + i * sealed);
      const decipher = createDecipheriv('aes-256-gcm', dataKey, nonce(prefix, i, i === chunks - 1));
      decipher.setAAD(aad);
      decipher.setAuthTag(buf.subarray(len - TAG_BYTES, len));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(buf.subarray(0, len - TAG_BYTES)), decipher.final()]);
      } catch (cause) {
        throw new WardenError('WARDEN_ENVELOPE_DECRYPT_FAILED', `chunk ${i} failed authentication`, { cause });
      }
      digest.update(plain);
      plainSize += plain.length;
      await output.write(plain);
    }
    if (plainSize !== record.size || digest.digest('hex') !== record.sha256) throw new WardenError('WARDEN_ENVELOPE_DECRYPT_FAILED', 'decrypted content does not match the recorded digest');
    await output.sync();
    await output.close();
    await out.commit();
  } catch (err) {
    await output.close().catch(() => undefined);
    await out.abort();
    throw err;
  } finally {
    dataKey.fill(0);
    await input.close();
  }
}

/** Key rotation: unwrap with the old KEK, wrap with the provider's current KEK; the ciphertext is untouched. */
export async function rewrapDataKey(record: SealedKeyRecord, provider: KeyProvider): Promise<SealedKeyRecord> {
  const dataKey = await provider.unwrap(record.wrappedKey, record.context);
  try {
    return { ...record, wrappedKey: await provider.wrap(dataKey, record.context) };
  } finally {
    dataKey.fill(0);
  }
}
