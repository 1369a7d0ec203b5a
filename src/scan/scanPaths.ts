import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { WardenError } from '../errors/index.js';
import { dispatch } from './formats/dispatch.js';
import { FileSource } from './io/RandomSource.js';
import { ScanContext } from './ScanContext.js';
import { severityRank } from './severity.js';
import { defaultScanLimits, severities, type FileReport, type Finding, type ScanLimits, type ScanOptions, type ScanReport, type Severity } from './types.js';

const HASH_READ_BYTES = 1 << 20;

/**
 * Hashes the file through the handle the parser reads (not by path again), so the digest is of
 * the same file the findings are about; shard digests come from the same single pass.
 */
async function digestsOf(src: FileSource, shardSize: number | undefined): Promise<{ sha256: string; sha256Shards?: { shardSize: number; digest: string } }> {
  const whole = createHash('sha256');
  const sharded = shardSize !== undefined && src.size > shardSize;
  const shardDigests = createHash('sha256');
  let shard = createHash('sha256');
  let inShard = 0;
  for (let offset = 0; offset < src.size; ) {
    const want = sharded ? Math.min(HASH_READ_BYTES, shardSize - inShard) : HASH_READ_BYTES;
    const chunk = await src.read(offset, want);
    if (chunk.length === 0) break;
    whole.update(chunk);
    offset += chunk.length;
    if (!sharded) continue;
    shard.update(chunk);
    inShard += chunk.length;
    if (inShard === shardSize || offset === src.size) {
      shardDigests.update(shard.digest());
      shard = createHash('sha256');
      inShard = 0;
    }
  }
  const sha256 = whole.digest('hex');
  return sharded ? { sha256, sha256Shards: { shardSize, digest: shardDigests.digest('hex') } } : { sha256 };
}

/** Scans one file; parsing reads by offset while the digest streams the whole file alongside. */
export async function scanFile(path: string, options: ScanOptions = {}, displayPath = path): Promise<FileReport> {
  const limits: ScanLimits = { ...defaultScanLimits, ...options.limits };
  if (options.shardSizeBytes !== undefined && !(Number.isSafeInteger(options.shardSizeBytes) && options.shardSizeBytes > 0)) {
    throw new WardenError('WARDEN_INPUT_INVALID', 'shard size must be a positive integer');
  }
  const findings: Finding[] = [];
  const ctx = new ScanContext(limits, findings);
  let src: FileSource;
  try {
    src = await FileSource.open(path);
  } catch (err) {
    throw new WardenError('WARDEN_SCAN_READ_FAILED', `cannot read ${displayPath}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  try {
    const digest = options.hash === false ? Promise.resolve(null) : digestsOf(src, options.shardSizeBytes);
    digest.catch(() => undefined); // if parsing fails first, the digest's own failure must not go unhandled
    const format = await dispatch.scanSource(src, path, ctx);
    const digests = await digest;
    if (await src.changedSinceOpen()) {
      ctx.add('scan/file-changed', 'high', 'the file changed while it was being scanned; the digest and findings may describe different contents');
    }
    findings.sort((a, b) => severityRank(b.severity) - severityRank(a.severity));
    return { path: displayPath, format, sha256: digests?.sha256 ?? null, ...(digests?.sha256Shards ? { sha256Shards: digests.sha256Shards } : {}), findings };
  } catch (err) {
    if (err instanceof WardenError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
      throw new WardenError('WARDEN_SCAN_READ_FAILED', `cannot read ${displayPath}: ${code}`, { cause: err });
    }
    throw err;
  } finally {
    await src.close();
  }
}

/** A directory symlink inside a scanned tree: not followed, and reported instead. */
interface SkippedDirectory {
  skippedDirectory: string;
}

/**
 * Files under `path` (a file, or a directory walked recursively). Symlinked directories are not
 * followed (they may point anywhere, or in a cycle), but a loader given the tree follows them,
 * so each one is listed to be reported rather than silently left out.
 */
async function listFiles(path: string): Promise<(string | SkippedDirectory)[]> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new WardenError('WARDEN_SCAN_PATH_NOT_FOUND', `no such file or directory: ${path}`);
  }
  if (st.isFile()) return [path];
  if (!st.isDirectory()) throw new WardenError('WARDEN_SCAN_PATH_NOT_FOUND', `not a regular file or directory: ${path}`);
  const out: (string | SkippedDirectory)[] = [];
  const seen = new Set<string>([await realpath(path)]);
  const walk = async (dir: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const full = join(dir, name);
      const l = await lstat(full);
      if (l.isDirectory()) await walk(full);
      else if (l.isFile()) out.push(full);
      else if (l.isSymbolicLink()) {
        const target = await stat(full).catch(() => null);
        const real = await realpath(full).catch(() => null);
        if (target?.isFile() && real && !seen.has(real)) out.push(full);
        else if (target?.isDirectory()) out.push({ skippedDirectory: full });
      }
    }
  };
  await walk(path);
  return out;
}

function skippedDirectoryReport(path: string): FileReport {
  return {
    path,
    format: 'directory-symlink',
    sha256: null,
    findings: [{ rule: 'scan/directory-not-scanned', severity: 'high', location: '', message: 'symlink to a directory: not followed, so its files were not scanned, yet a loader given this tree reads through it' }],
  };
}

export function summarize(files: FileReport[]): ScanReport['summary'] {
  const bySeverity = Object.fromEntries(severities.map((s) => [s, 0])) as Record<Severity, number>;
  let findings = 0;
  for (const f of files) {
    for (const x of f.findings) {
      bySeverity[x.severity]++;
      findings++;
    }
  }
  return { files: files.length, findings, bySeverity };
}

/**
 * Scans files and directories. Every path is checked before any scanning starts, so a typo
 * fails fast with `WARDEN_SCAN_PATH_NOT_FOUND` instead of after a long scan.
 */
export async function scanPaths(paths: string[], options: ScanOptions = {}): Promise<ScanReport> {
  if (paths.length === 0) throw new WardenError('WARDEN_SCAN_NO_PATHS', 'give at least one file or directory to scan');
  const lists = [];
  for (const p of paths) lists.push(await listFiles(p));
  const files: FileReport[] = [];
  for (const list of lists) {
    for (const f of list) files.push(typeof f === 'string' ? await scanFile(f, options) : skippedDirectoryReport(f.skippedDirectory));
  }
  return { files, summary: summarize(files) };
}

/** Highest severity in a report, or null when there are no findings. */
export function worstSeverity(report: ScanReport): Severity | null {
  for (const s of severities) if (report.summary.bySeverity[s] > 0) return s;
  return null;
}
