import { mkdirSync, openSync, writeSync, fsyncSync, closeSync, renameSync, readFileSync, existsSync, chmodSync, unlinkSync, readdirSync, lstatSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { WardenError } from '../errors/index.js';

/** Creates a directory (and parents) readable only by its owner. */
export function ensurePrivateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
}

/** Makes a directory's entries (a created, renamed or removed file) durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a file atomically: temp file in the same directory, fsync, rename.
 * Readers see the old or the new content, never a half-written file.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  // Keep in step with ATOMIC_TEMP_NAME, which finds the copies a crash left behind.
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', mode);
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    chmodSync(tmp, mode);
    renameSync(tmp, path);
    fsyncDir(dir);
  } catch (cause) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw new WardenError('WARDEN_IO', `cannot write ${path}`, { cause });
  }
}

/** The temp names writeFileAtomic uses (`.<name>.<12 hex>.tmp`); nothing else in our directories looks like this. */
export const ATOMIC_TEMP_NAME = /^\..+\.[0-9a-f]{12}\.tmp$/;

/**
 * Deletes the temp files writeFileAtomic left in `dir` when the process died between write and
 * rename (they may hold private keys). Only regular files matching ATOMIC_TEMP_NAME are touched.
 * `olderThanMs` spares a temp file another process is writing right now, for directories other
 * processes also write to. Best effort: a file that cannot be removed must not stop a start.
 */
export function removeStaleTempFiles(dir: string, olderThanMs = 0, now = Date.now()): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!ATOMIC_TEMP_NAME.test(name)) continue;
    const path = join(dir, name);
    try {
      const st = lstatSync(path);
      // olderThanMs 0 means any age: a file written this millisecond can carry an mtime a fraction
      // of a millisecond past Date.now() (the kernel's clock is finer), which must not spare it.
      if (!st.isFile() || (olderThanMs > 0 && now - st.mtimeMs < olderThanMs)) continue;
      unlinkSync(path);
      removed.push(name);
    } catch {
      /* gone meanwhile, or not ours to remove */
    }
  }
  if (removed.length > 0) {
    try {
      fsyncDir(dir);
    } catch {
      /* the removal is redone on the next start */
    }
  }
  return removed;
}

/** Reads a secret file, or creates it with `create()` (mode 0600) on first use. */
export function readOrCreateSecretFile(path: string, create: () => Uint8Array): Buffer {
  if (existsSync(path)) return readFileSync(path);
  const value = create();
  writeFileAtomic(path, value, 0o600);
  return Buffer.from(value);
}
