import { closeSync, existsSync, readSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, statfs, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { WardenError } from '../../errors/index.js';
import { fsyncDir, stateFileFlags } from '../../crypto/index.js';
import type { SignedCheckpoint } from '../checkpoint/index.js';
import type { AuditReader, AuditStore, PreparedEntry, RawEntry } from './AuditStore.js';
import { formatEntryLine, parseEntryLine } from './parseEntryLine.js';
import { readLineChunks } from './readLines.js';

const SEGMENT_PATTERN = /^(\d{20})\.log$/;

export interface FileAuditLayout {
  dir: string;
  segments: string;
  checkpoints: string;
  lock: string;
}

/** `<dataDir>/audit/`: segments/<first index>.log, checkpoints.jsonl, LOCK. */
export function fileAuditLayout(dataDir: string): FileAuditLayout {
  const dir = join(dataDir, 'audit');
  return { dir, segments: join(dir, 'segments'), checkpoints: join(dir, 'checkpoints.jsonl'), lock: join(dir, 'LOCK') };
}

function segmentName(firstIndex: number): string {
  return `${String(firstIndex).padStart(20, '0')}.log`;
}

function segmentFirstIndex(path: string): number {
  return Number(SEGMENT_PATTERN.exec(path.slice(path.lastIndexOf('/') + 1))?.[1] ?? NaN);
}

function listSegments(layout: FileAuditLayout): string[] {
  if (!existsSync(layout.segments)) return [];
  return readdirSync(layout.segments)
    .filter((n) => SEGMENT_PATTERN.test(n))
    .sort()
    .map((n) => join(layout.segments, n));
}

/** Cuts a torn final line (a write interrupted by a crash: never acknowledged). */
function truncateTornTail(path: string): number {
  if (!existsSync(path)) return 0;
  const size = statSync(path).size;
  if (size === 0) return 0;
  const fd = openSync(path, stateFileFlags.read);
  try {
    const window = Buffer.alloc(Math.min(size, 1 << 20));
    let end = size;
    // Search backwards for the last newline, a window at a time.
    while (end > 0) {
      const start = Math.max(0, end - window.length);
      const n = end - start;
      const read = window.subarray(0, n);
      readSyncFully(fd, read, start);
      const nl = read.lastIndexOf(0x0a);
      if (nl >= 0) {
        const keep = start + nl + 1;
        if (keep < size) truncateSync(path, keep);
        return keep;
      }
      end = start;
    }
    truncateSync(path, 0);
    return 0;
  } finally {
    closeSync(fd);
  }
}

function readSyncFully(fd: number, buf: Buffer, position: number): void {
  let off = 0;
  while (off < buf.length) {
    const n = readSyncAt(fd, buf, off, position + off);
    if (n === 0) break;
    off += n;
  }
}

function readSyncAt(fd: number, buf: Buffer, off: number, pos: number): number {
  return readSync(fd, buf, off, buf.length - off, pos);
}

/** The index the first line of a segment claims, or null (empty or damaged). */
async function firstLineIndex(path: string): Promise<number | null> {
  for await (const lines of readLineChunks(path)) return parseEntryLine(lines[0]!, 0).index;
  return null;
}

/** Reads a file-based log without locking: safe while `warden up` appends to it. */
export class FileAuditReader implements AuditReader {
  constructor(protected readonly layout: FileAuditLayout) {}

  async *entries(from = 0): AsyncIterable<RawEntry> {
    for await (const batch of this.batches(from)) yield* batch;
  }

  async *batches(from = 0): AsyncIterable<RawEntry[]> {
    const segments = listSegments(this.layout);
    let position = 0;
    for (let s = 0; s < segments.length; s++) {
      const path = segments[s]!;
      const last = s === segments.length - 1;
      // Skip whole segments before `from` (segment names are their first index), only when the next
      // segment's first line says so too: a renamed segment would otherwise hide entries.
      if (!last && position === segmentFirstIndex(path)) {
        const next = segmentFirstIndex(segments[s + 1]!);
        if (next <= from && next > position && (await firstLineIndex(segments[s + 1]!)) === next) {
          position = next;
          continue;
        }
      }
      let tail: Buffer | null = null;
      // Reads from an index skip segments by their names: a renamed one would hide entries.
      let firstOfSegment = true;
      for await (const lines of readLineChunks(path, (t) => (tail = t))) {
        const out: RawEntry[] = [];
        for (const line of lines) {
          if (position >= from) {
            const raw = parseEntryLine(line, position);
            if (firstOfSegment && segmentFirstIndex(path) !== position) {
              raw.derivedMismatch = `segment file ${path.slice(path.lastIndexOf('/') + 1)} holds entry ${position} first, not the index its name says (renamed)`;
            }
            out.push(raw);
          }
          firstOfSegment = false;
          position++;
        }
        if (out.length) yield out;
      }
      // A torn last line in the newest segment is a write in progress (or a crash before ack).
      if (tail && !last) {
        if (position >= from) yield [{ position, index: null, storedHash: null, entry: tail, malformed: 'segment ends without newline' }];
        position++;
      }
    }
  }

  async isEmpty(): Promise<boolean> {
    const nonEmpty = (path: string): boolean => existsSync(path) && statSync(path).size > 0;
    return !nonEmpty(this.layout.checkpoints) && !listSegments(this.layout).some(nonEmpty);
  }

  async checkpointNotes(): Promise<string[]> {
    if (!existsSync(this.layout.checkpoints)) return [];
    const text = readFileSync(this.layout.checkpoints, 'utf8');
    const lines = text.split('\n');
    lines.pop(); // trailing fragment (empty, or a checkpoint being written)
    return lines.map((line) => {
      try {
        const v = JSON.parse(line) as { note?: unknown };
        return typeof v.note === 'string' ? v.note : line;
      } catch {
        return line; // damaged: verify reports it as an invalid checkpoint
      }
    });
  }

  async close(): Promise<void> {}
}

export interface FileAuditStoreOptions {
  fsync: boolean;
  segmentMaxBytes: number;
}

/** The embedded writer: append-only segment files plus a checkpoints file, single writer via LOCK. */
export class FileAuditStore extends FileAuditReader implements AuditStore {
  readonly kind = 'files' as const;
  private segment: FileHandle | null = null;
  private segmentBytes = 0;
  private checkpointsFh: FileHandle | null = null;
  private checkpointsBytes = 0;

  private constructor(
    layout: FileAuditLayout,
    private readonly options: FileAuditStoreOptions,
  ) {
    super(layout);
  }

  static async open(dataDir: string, options: FileAuditStoreOptions): Promise<FileAuditStore> {
    const layout = fileAuditLayout(dataDir);
    mkdirSync(layout.segments, { recursive: true, mode: 0o700 });
    acquireLock(layout.lock);
    const store = new FileAuditStore(layout, options);
    try {
      const segments = listSegments(layout);
      const lastPath = segments.at(-1) ?? join(layout.segments, segmentName(0));
      store.segmentBytes = truncateTornTail(lastPath);
      store.segment = await open(lastPath, existsSync(lastPath) ? stateFileFlags.existing : stateFileFlags.create, 0o600);
      if (segments.length === 0) fsyncDir(layout.segments);
      store.checkpointsBytes = truncateTornTail(layout.checkpoints);
      store.checkpointsFh = await open(layout.checkpoints, existsSync(layout.checkpoints) ? stateFileFlags.existing : stateFileFlags.create, 0o600);
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  async appendEntries(batch: readonly PreparedEntry[]): Promise<void> {
    if (batch.length === 0) return;
    if (!this.segment) throw new WardenError('WARDEN_AUDIT_CLOSED', 'audit store is closed');
    let text = '';
    for (const e of batch) text += formatEntryLine(e.index, e.leafHash, e.json);
    const data = Buffer.from(text, 'utf8');
    if (this.segmentBytes > 0 && this.segmentBytes + data.length > this.options.segmentMaxBytes) await this.roll(batch[0]!.index);
    const fh = this.segment;
    const before = this.segmentBytes;
    try {
      await writeFully(fh, data, before);
      if (this.options.fsync) await fh.datasync();
      this.segmentBytes = before + data.length;
    } catch (cause) {
      // Leave no half-written batch behind: a later batch must start on a line boundary.
      await fh.truncate(before).catch(() => undefined);
      throw new WardenError('WARDEN_AUDIT_WRITE_FAILED', 'cannot write audit segment', { cause });
    }
  }

  async freeBytes(): Promise<number> {
    const s = await statfs(this.layout.segments);
    // Root may also write into the blocks a filesystem reserves for it (ext4: 5%); others may not.
    return (process.getuid?.() === 0 ? s.bfree : s.bavail) * s.bsize;
  }

  async appendCheckpoint(cp: SignedCheckpoint): Promise<void> {
    if (!this.checkpointsFh) throw new WardenError('WARDEN_AUDIT_CLOSED', 'audit store is closed');
    const data = Buffer.from(JSON.stringify({ note: cp.note }) + '\n');
    const before = this.checkpointsBytes;
    try {
      // With fsync 'none' entries may still sit in the page cache: a durable checkpoint must
      // never cover entries a power loss could take away.
      if (!this.options.fsync) await this.segment?.datasync();
      await writeFully(this.checkpointsFh, data, before);
      await this.checkpointsFh.datasync();
      this.checkpointsBytes = before + data.length;
    } catch (cause) {
      await this.checkpointsFh.truncate(before).catch(() => undefined);
      throw new WardenError('WARDEN_AUDIT_WRITE_FAILED', 'cannot write audit checkpoint', { cause });
    }
  }

  private async roll(firstIndex: number): Promise<void> {
    await this.segment!.datasync();
    await this.segment!.close();
    this.segment = await open(join(this.layout.segments, segmentName(firstIndex)), 'wx', 0o600);
    this.segmentBytes = 0;
    fsyncDir(this.layout.segments);
  }

  override async close(): Promise<void> {
    const fhs = [this.segment, this.checkpointsFh];
    this.segment = null;
    this.checkpointsFh = null;
    for (const fh of fhs) await fh?.close().catch(() => undefined);
    releaseLock(this.layout.lock);
  }
}

async function writeFully(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, position + off);
    off += bytesWritten;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One writer per data dir; a LOCK left by a crashed (dead) process is taken over. */
function acquireLock(path: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new WardenError('WARDEN_IO', `cannot create ${path}`, { cause: e });
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isSafeInteger(pid) && pid > 0 && (pid === process.pid || pidAlive(pid))) {
        throw new WardenError('WARDEN_AUDIT_LOCKED', `the audit log is open for writing by process ${pid}`);
      }
      unlinkSync(path);
    }
  }
  throw new WardenError('WARDEN_AUDIT_LOCKED', 'cannot take the audit log lock');
}

function releaseLock(path: string): void {
  try {
    if (Number(readFileSync(path, 'utf8').trim()) === process.pid) unlinkSync(path);
  } catch {
    /* already gone */
  }
}
