import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { open } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { WardenError } from '../../errors/index.js';

export interface ShardTask {
  path: string;
  start: number;
  end: number;
}

/** Dataset leaf hashing of a byte range that starts and ends on record (or chunk) boundaries. */
export interface LeafTask extends ShardTask {
  kind: 'leaves';
  unit: 'record' | 'chunk';
  chunkBytes: number;
}

const READ_BUFFER_BYTES = 4 * 1024 * 1024;

/*
 * The worker is plain JavaScript passed with `eval: true` so the same code runs from the
 * TypeScript sources (tsx) and from dist/ without a separate build step for the worker file.
 * It streams each byte range through a 4 MiB buffer: memory is constant whatever the file size.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash, hash: oneShot } = require('node:crypto');
const buf = Buffer.allocUnsafe(${READ_BUFFER_BYTES});
let scratch = Buffer.allocUnsafe(4096);
const PREFIX = Buffer.from([0]);
// RFC 6962 leaf hash H(0x00 || record), one-shot over a reused scratch buffer for short records.
function leaf(data) {
  if (data.length + 1 > 1048576) return createHash('sha256').update(PREFIX).update(data).digest();
  if (data.length + 1 > scratch.length) scratch = Buffer.allocUnsafe(Math.max(data.length + 1, scratch.length * 2));
  scratch[0] = 0;
  data.copy(scratch, 1);
  return oneShot('sha256', scratch.subarray(0, data.length + 1), 'buffer');
}
function leaves(fd, task) {
  let out = Buffer.allocUnsafe(32 * 8192);
  let n = 0;
  const push = (h) => {
    if ((n + 1) * 32 > out.length) { const next = Buffer.allocUnsafe(out.length * 2); out.copy(next, 0, 0, n * 32); out = next; }
    h.copy(out, n * 32); n++;
  };
  let current; let currentBytes = 0; let pos = task.start;
  while (pos < task.end) {
    const got = readSync(fd, buf, 0, Math.min(buf.length, task.end - pos), pos);
    if (got === 0) throw new Error('file shrank while hashing');
    const chunk = buf.subarray(0, got);
    pos += got;
    let p = 0;
    if (task.unit === 'record') {
      while (p < chunk.length) {
        const nl = chunk.indexOf(10, p);
        if (nl === -1) { current ??= createHash('sha256').update(PREFIX); current.update(chunk.subarray(p)); currentBytes += chunk.length - p; break; }
        if (current) { current.update(chunk.subarray(p, nl)); push(current.digest()); current = undefined; currentBytes = 0; }
        else push(leaf(chunk.subarray(p, nl)));
        p = nl + 1;
      }
    } else {
      while (p < chunk.length) {
        current ??= createHash('sha256').update(PREFIX);
        const take = Math.min(task.chunkBytes - currentBytes, chunk.length - p);
        current.update(chunk.subarray(p, p + take)); currentBytes += take; p += take;
        if (currentBytes === task.chunkBytes) { push(current.digest()); current = undefined; currentBytes = 0; }
      }
    }
  }
  if (current && currentBytes > 0) push(current.digest());
  const result = new Uint8Array(n * 32);
  result.set(out.subarray(0, n * 32));
  return result;
}
parentPort.on('message', (task) => {
  let fd;
  try {
    fd = openSync(task.path, 'r');
    if (task.kind === 'leaves') {
      const result = leaves(fd, task);
      parentPort.postMessage({ id: task.id, leaves: result }, [result.buffer]);
      return;
    }
    const hash = createHash('sha256');
    let pos = task.start;
    while (pos < task.end) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, task.end - pos), pos);
      if (n === 0) throw new Error('file shrank while hashing');
      hash.update(n === buf.length ? buf : buf.subarray(0, n));
      pos += n;
    }
    parentPort.postMessage({ id: task.id, digest: hash.digest('hex') });
  } catch (err) {
    parentPort.postMessage({ id: task.id, error: String(err && err.message || err) });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
});
`;

interface Pending {
  resolve(result: string | Uint8Array): void;
  reject(err: Error): void;
  task: ShardTask;
}

/**
 * A small pool of worker threads hashing byte ranges of files in parallel. SHA-256 is
 * sequential within one stream, so a big file only uses several cores when cut into shards.
 */
export class ShardHasher {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { id: number; task: ShardTask | LeafTask }[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly busy = new Map<Worker, number>();
  private nextId = 1;
  private closed = false;

  constructor(readonly size: number = availableParallelism()) {}

  private spawn(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on('message', (msg: { id: number; digest?: string; leaves?: Uint8Array; error?: string }) => {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      this.busy.delete(worker);
      if (p) {
        if (msg.digest) p.resolve(msg.digest);
        else if (msg.leaves) p.resolve(msg.leaves);
        else p.reject(new WardenError('WARDEN_ARTIFACT_HASH_FAILED', `cannot hash ${p.task.path}: ${msg.error ?? 'unknown error'}`));
      }
      this.idle.push(worker);
      this.pump();
    });
    const fail = (err: unknown) => {
      // A dead worker leaves the pool so a replacement can be spawned for the queued shards.
      const id = this.busy.get(worker);
      const p = id === undefined ? undefined : this.pending.get(id);
      if (id !== undefined) this.pending.delete(id);
      this.busy.delete(worker);
      const i = this.workers.indexOf(worker);
      if (i >= 0) this.workers.splice(i, 1);
      const j = this.idle.indexOf(worker);
      if (j >= 0) this.idle.splice(j, 1);
      p?.reject(new WardenError('WARDEN_ARTIFACT_HASH_FAILED', `hash worker failed on ${p.task.path}`, { cause: err }));
      if (!this.closed) this.pump();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.workers.includes(worker)) fail(new Error(`hash worker exited with code ${code}`));
    });
    this.workers.push(worker);
    return worker;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let worker = this.idle.pop();
      if (!worker && this.workers.length < this.size) worker = this.spawn();
      if (!worker) return;
      const next = this.queue.shift()!;
      this.busy.set(worker, next.id);
      worker.ref();
      worker.postMessage({ id: next.id, ...next.task });
    }
    for (const w of this.idle) w.unref();
  }

  hash(task: ShardTask): Promise<string> {
    return this.submit(task) as Promise<string>;
  }

  /** RFC 6962 leaf hashes (32 bytes each, in order) of the records or chunks in a boundary-aligned range. */
  leaves(task: Omit<LeafTask, 'kind'>): Promise<Uint8Array> {
    return this.submit({ ...task, kind: 'leaves' }) as Promise<Uint8Array>;
  }

  private submit(task: ShardTask | LeafTask): Promise<string | Uint8Array> {
    if (this.closed) return Promise.reject(new WardenError('WARDEN_ARTIFACT_HASH_FAILED', 'hasher is closed'));
    const id = this.nextId++;
    return new Promise<string | Uint8Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, task });
      this.queue.push({ id, task });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const workers = [...this.workers];
    this.workers.length = 0;
    await Promise.all(workers.map((w) => w.terminate()));
    this.idle.length = 0;
  }
}

/** Hashes a byte range on the calling thread (small files: a worker round trip would cost more than the hash). */
export async function hashRange(task: ShardTask): Promise<string> {
  const fh = await open(task.path, 'r').catch((cause: unknown) => {
    throw new WardenError('WARDEN_ARTIFACT_HASH_FAILED', `cannot open ${task.path}`, { cause });
  });
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(Math.min(READ_BUFFER_BYTES, Math.max(1, task.end - task.start)));
    let pos = task.start;
    while (pos < task.end) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, task.end - pos), pos);
      if (bytesRead === 0) throw new WardenError('WARDEN_ARTIFACT_HASH_FAILED', `${task.path} shrank while hashing`);
      hash.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    return hash.digest('hex');
  } finally {
    await fh.close();
  }
}
