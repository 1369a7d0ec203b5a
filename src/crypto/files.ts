import { mkdirSync, openSync, writeSync, fsyncSync, closeSync, renameSync, readFileSync, chmodSync, unlinkSync, readdirSync, lstatSync, statSync, fstatSync, constants, type Stats } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { WardenError } from '../errors/index.js';

/** Opening a state file never follows a symlink planted at its name (0 where the platform has no such flag). */
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;

/** Flags for state files Warden appends to: an existing file read/write, or a new one created exclusively. */
export const stateFileFlags = {
  existing: constants.O_RDWR | O_NOFOLLOW,
  create: constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW,
  read: constants.O_RDONLY | O_NOFOLLOW,
} as const;

/** Ownership and mode bits mean nothing useful on Windows; everywhere else they decide who can swap our files. */
const checksOwnership = process.platform !== 'win32';

function unsafe(message: string): WardenError {
  return new WardenError('WARDEN_FILE_UNSAFE', message);
}

function isErrno(err: unknown, ...codes: string[]): boolean {
  return codes.includes((err as NodeJS.ErrnoException)?.code ?? '');
}

/** Refuses a file or directory another user owns: they could replace what Warden reads or writes there. */
function assertOwned(path: string, st: Stats): void {
  const uid = process.getuid?.();
  if (!checksOwnership || uid === undefined || st.uid === uid) return;
  throw unsafe(`${path} is owned by uid ${st.uid}, not by uid ${uid} running warden: chown it to that user or run warden as its owner`);
}

/**
 * Refuses a directory holding Warden's state or secrets when someone else could change it: a
 * symlink (unless `followSymlink`, for the data directory's root only), not a directory, owned by
 * another user, or writable by group or others. A missing directory passes (it is created 0700).
 */
export function assertPrivateDir(path: string, options: { followSymlink?: boolean; ownerOnly?: boolean } = {}): void {
  let st: Stats;
  try {
    st = lstatSync(path);
    if (st.isSymbolicLink()) {
      if (!options.followSymlink) throw unsafe(`${path} is a symlink; Warden keeps state only in real directories: replace it with the directory itself`);
      st = statSync(path);
    }
  } catch (err) {
    if (err instanceof WardenError) throw err;
    if (isErrno(err, 'ENOENT')) return;
    throw new WardenError('WARDEN_IO', `cannot inspect ${path}`, { cause: err });
  }
  if (!st.isDirectory()) throw unsafe(`${path} is not a directory`);
  assertOwned(path, st);
  if (checksOwnership && (st.mode & 0o022) !== 0) throw unsafe(`${path} is writable by group or others: run chmod go-w ${path}`);
  if (checksOwnership && options.ownerOnly && (st.mode & 0o077) !== 0) throw unsafe(`${path} is readable by group or others: run chmod 700 ${path}`);
}

/** Creates a directory (and parents) readable only by its owner; an existing one must pass assertPrivateDir. */
export function ensurePrivateDir(path: string): void {
  assertPrivateDir(path);
  mkdirSync(path, { recursive: true, mode: 0o700 });
  assertPrivateDir(path);
}

/**
 * The embedded store's directory: PGlite creates its files 0666/0777 whatever the umask, so this
 * directory alone keeps others out and must be the owner's only (0700).
 */
export const EMBEDDED_STORE_DIR = 'db';

/** The directories under the data directory that hold keys and the audit log. */
export const SECRET_SUBDIRS = ['keys', 'ca', join('ca', 'keys'), 'audit', join('audit', 'segments')] as const;

/**
 * Checks an existing data directory before any command reads or writes it: the root may be a
 * symlink to a directory that passes the checks (a volume mounted elsewhere), the secret
 * directories inside it may not. Creates nothing.
 */
export function assertDataDir(dataDir: string): void {
  try {
    if (!statSync(dataDir).isDirectory()) throw new WardenError('WARDEN_USAGE', `the data directory ${dataDir} is not a directory: pass --data-dir (or WARDEN_DATA_DIR) naming a directory`);
  } catch (err) {
    if (err instanceof WardenError) throw err;
    if (isErrno(err, 'ENOENT')) return;
    if (isErrno(err, 'ENOTDIR')) throw new WardenError('WARDEN_USAGE', `the data directory ${dataDir} is inside a file, not a directory: pass --data-dir (or WARDEN_DATA_DIR) naming a directory`);
    throw new WardenError('WARDEN_IO', `cannot inspect ${dataDir}`, { cause: err });
  }
  assertPrivateDir(dataDir, { followSymlink: true });
  for (const sub of SECRET_SUBDIRS) assertPrivateDir(join(dataDir, sub));
  assertPrivateDir(join(dataDir, EMBEDDED_STORE_DIR), { ownerOnly: true });
}

/** Creates the data directory (0700) when missing, after and before assertDataDir. */
export function ensureDataDir(dataDir: string): void {
  assertDataDir(dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  assertDataDir(dataDir);
}

/**
 * Reads a secret (a key, the server secret): never through a symlink, only a regular file owned
 * by the user running warden with no group or other permission bits. Fails closed with the
 * chmod to run instead of fixing the mode silently: a readable key may already have been copied.
 */
export function readSecretFile(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, stateFileFlags.read);
  } catch (err) {
    if (isErrno(err, 'ELOOP')) throw unsafe(`${path} is a symlink; a secret file must be a regular file: replace the link with the file itself`);
    throw new WardenError('WARDEN_IO', `cannot read ${path}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw unsafe(`${path} is not a regular file`);
    assertOwned(path, st);
    if (checksOwnership && (st.mode & 0o077) !== 0) {
      throw unsafe(`${path} is accessible to group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): run chmod 600 ${path}`);
    }
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Whether anything (a file, or a symlink even when dangling) is at `path`. */
export function pathTaken(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
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
  // A dangling symlink counts as present, so readSecretFile refuses it instead of a write next to it.
  if (pathTaken(path)) return readSecretFile(path);
  const value = create();
  writeFileAtomic(path, value, 0o600);
  return Buffer.from(value);
}
