/**
 * Scanner throughput against reading the same bytes with `cat > /dev/null` (the floor any
 * scanner that reads the file pays), plus Python's `pickletools.genops` opcode walk, the core
 * loop of picklescan and modelscan, on the pickle-based files.
 *
 *   node --import tsx bench/scan.ts            (or: npm run bench -- scan)
 *   BENCH_SCAN_QUICK=1 ... (smaller files, for a smoke run)
 *
 * Files are generated in bench/.tmp/ and deleted at the end. Every timing is the median of
 * REPS runs after one warm-up read (page cache warm for all contenders).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { scanFile } from '../src/scan/index.js';

const QUICK = process.env.BENCH_SCAN_QUICK === '1';
const REPS = 3;
const MiB = 1024 * 1024;
const dir = join(process.cwd(), 'bench', '.tmp', `scan-${process.pid}`);

// ---------- generators (real layouts, written with the same opcodes CPython emits) ----------

function pseudoRandom(bytes: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  let x = seed >>> 0;
  for (let i = 0; i + 4 <= bytes; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b;
}

function writeChunks(path: string, parts: Iterable<Buffer>): number {
  const fd = openSync(path, 'w');
  let size = 0;
  try {
    for (const p of parts) size += writeSync(fd, p);
  } finally {
    closeSync(fd);
  }
  return size;
}

/** safetensors: `tensors` F32 tensors of `tensorBytes` each. */
function makeSafetensors(path: string, tensors: number, tensorBytes: number): number {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  for (let i = 0; i < tensors; i++) header[`model.layers.${i}.weight`] = { dtype: 'F32', shape: [tensorBytes / 4], data_offsets: [i * tensorBytes, (i + 1) * tensorBytes] };
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const chunk = pseudoRandom(Math.min(tensorBytes, 64 * MiB));
  return writeChunks(path, (function* () {
    yield Buffer.concat([len, json]);
    for (let i = 0; i < (tensors * tensorBytes) / chunk.length; i++) yield chunk;
  })());
}

const su = (s: string): Buffer => Buffer.concat([Buffer.from([0x8c, Buffer.byteLength(s)]), Buffer.from(s)]);
const u64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

/**
 * A numpy-style checkpoint pickle (what joblib/sklearn/plain pickle.dump of arrays write):
 * {name: numpy.core.multiarray._reconstruct(ndarray, (0,), b'b') + BUILD((1, shape, dtype, False, <bytes>))}.
 */
function makeArrayPickle(path: string, arrays: number, arrayBytes: number): number {
  const payload = pseudoRandom(arrayBytes, 7);
  return writeChunks(path, (function* () {
    yield Buffer.concat([Buffer.from([0x80, 0x04]), Buffer.from('}'), Buffer.from('(')]);
    for (let i = 0; i < arrays; i++) {
      yield Buffer.concat([
        su(`layer${i}.weight`),
        su('numpy.core.multiarray'), su('_reconstruct'), Buffer.from([0x93]),
        su('numpy'), su('ndarray'), Buffer.from([0x93]), Buffer.from('K\x00\x85', 'latin1'), Buffer.from('C\x01b', 'latin1'), Buffer.from([0x87]), Buffer.from('R'),
        Buffer.from('(K\x01', 'latin1'), Buffer.from('J', 'latin1'), Buffer.from(new Uint32Array([arrayBytes / 4]).buffer), Buffer.from([0x85]),
        su('numpy'), su('dtype'), Buffer.from([0x93]), su('f4'), Buffer.from([0x89, 0x88, 0x87]), Buffer.from('R'),
        Buffer.from([0x89]), Buffer.from([0x8e]), u64(arrayBytes),
      ]);
      yield payload;
      yield Buffer.from('tb', 'latin1');
      if (i % 1000 === 999) yield Buffer.from('u(', 'latin1');
    }
    yield Buffer.from('u.', 'latin1');
  })());
}

/** Many small objects: the worst case for any opcode-by-opcode scanner. */
function makeDensePickle(path: string, records: number): number {
  const rec = Buffer.concat([Buffer.from('(K\x01M\x02\x03', 'latin1'), su('token'), Buffer.from('G', 'latin1'), Buffer.alloc(8, 0x3f), Buffer.from('t', 'latin1')]);
  const batch = Buffer.concat([Buffer.from('(', 'latin1'), ...Array.from({ length: 1000 }, () => rec), Buffer.from('e', 'latin1')]);
  return writeChunks(path, (function* () {
    yield Buffer.from([0x80, 0x04, 0x5d]);
    for (let i = 0; i < records / 1000; i++) yield batch;
    yield Buffer.from('.');
  })());
}

/** PyTorch zip (torch.save since 1.6): data.pkl with persistent storage ids + stored data/N members. */
function makeTorchZip(path: string, tensors: number, tensorBytes: number): number {
  const pkl: Buffer[] = [Buffer.from([0x80, 0x02]), Buffer.from('ccollections\nOrderedDict\nq\x00)Rq\x01(', 'latin1')];
  for (let i = 0; i < tensors; i++) {
    const key = Buffer.from(`layers.${i}.weight`);
    pkl.push(Buffer.from('X', 'latin1'), Buffer.from(new Uint32Array([key.length]).buffer), key);
    pkl.push(Buffer.from('ctorch._utils\n_rebuild_tensor_v2\n(', 'latin1'));
    pkl.push(Buffer.from('(X\x07\x00\x00\x00storagectorch\nFloatStorage\n', 'latin1'), Buffer.from('X', 'latin1'), Buffer.from(new Uint32Array([String(i).length]).buffer), Buffer.from(String(i)));
    pkl.push(Buffer.from('X\x03\x00\x00\x00cpuJ', 'latin1'), Buffer.from(new Uint32Array([tensorBytes / 4]).buffer), Buffer.from('tQK\x00J', 'latin1'), Buffer.from(new Uint32Array([tensorBytes / 4]).buffer), Buffer.from('\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR', 'latin1'));
    if (i % 1000 === 999) pkl.push(Buffer.from('u(', 'latin1'));
  }
  pkl.push(Buffer.from('u.', 'latin1'));
  const dataPkl = Buffer.concat(pkl);
  const storage = pseudoRandom(tensorBytes, 3);
  const storageCrc = crc32(storage);
  const central: Buffer[] = [];
  let offset = 0;
  const member = (name: string, data: Buffer, crc: number): Buffer => {
    const n = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(data.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(n.length, 28);
    c.writeUInt32LE(offset, 42);
    central.push(c, n);
    offset += 30 + n.length + data.length;
    return Buffer.concat([local, n]);
  };
  return writeChunks(path, (function* () {
    yield member('archive/data.pkl', dataPkl, crc32(dataPkl));
    yield dataPkl;
    for (let i = 0; i < tensors; i++) {
      yield member(`archive/data/${i}`, storage, storageCrc);
      yield storage;
    }
    const v = Buffer.from('3\n');
    yield member('archive/version', v, crc32(v));
    yield v;
    const cd = Buffer.concat(central);
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(tensors + 2, 8);
    eocd.writeUInt16LE(tensors + 2, 10);
    eocd.writeUInt32LE(cd.length, 12);
    eocd.writeUInt32LE(offset, 16);
    yield cd;
    yield eocd;
  })());
}

// ---------- measurement ----------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timeCommand(cmd: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  return ms;
}

async function timeScan(path: string, hash: boolean): Promise<{ ms: number; findings: number }> {
  const t0 = process.hrtime.bigint();
  const r = await scanFile(path, { hash });
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, findings: r.findings.filter((f) => f.severity !== 'info' && f.severity !== 'low').length };
}

const genops = [
  '-c',
  [
    'import sys, zipfile, pickletools',
    'p = sys.argv[1]',
    'if zipfile.is_zipfile(p):',
    '    z = zipfile.ZipFile(p)',
    '    for n in z.namelist():',
    '        if n.endswith(".pkl"):',
    '            for _ in pickletools.genops(z.open(n)): pass',
    'else:',
    '    with open(p, "rb") as f:',
    '        for _ in pickletools.genops(f): pass',
  ].join('\n'),
];

interface Row {
  name: string;
  bytes: number;
  catMs: number;
  scanMs: number;
  scanNoHashMs: number;
  genopsMs: number | null;
}

async function measure(name: string, path: string, withGenops: boolean): Promise<Row> {
  const bytes = statSync(path).size;
  timeCommand('sh', ['-c', `cat '${path}' > /dev/null`]); // warm the page cache
  const cat: number[] = [];
  const scan: number[] = [];
  const scanNoHash: number[] = [];
  const gen: number[] = [];
  for (let i = 0; i < REPS; i++) {
    cat.push(timeCommand('sh', ['-c', `cat '${path}' > /dev/null`]));
    const a = await timeScan(path, true);
    const b = await timeScan(path, false);
    if (a.findings || b.findings) throw new Error(`${name}: unexpected findings on a benign file`);
    scan.push(a.ms);
    scanNoHash.push(b.ms);
    if (withGenops) gen.push(timeCommand('python3', [...genops, path]));
  }
  return { name, bytes, catMs: median(cat), scanMs: median(scan), scanNoHashMs: median(scanNoHash), genopsMs: withGenops ? median(gen) : null };
}

function mbps(bytes: number, ms: number): string {
  return ((bytes / MiB) / (ms / 1000)).toFixed(0);
}

async function main(): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const rows: Row[] = [];
  try {
    const big = join(dir, 'model-2g.safetensors');
    const small = join(dir, 'model-64m.safetensors');
    const pkl = join(dir, 'checkpoint-500m.pkl');
    const zip = join(dir, 'checkpoint-500m.pt');
    const dense = join(dir, 'dense-objects.pkl');
    const scale = QUICK ? 8 : 1;
    console.error('generating files in', dir);
    makeSafetensors(big, 32, (64 * MiB) / scale);
    makeSafetensors(small, 1, (64 * MiB) / scale);
    makeArrayPickle(pkl, 500, MiB / scale);
    makeTorchZip(zip, 500, MiB / scale);
    makeDensePickle(dense, 2_000_000 / scale);
    rows.push(await measure('safetensors, 32 tensors', big, false));
    rows.push(await measure('safetensors, 1 tensor', small, false));
    rows.push(await measure('pickle checkpoint, 500 numpy arrays', pkl, true));
    rows.push(await measure('PyTorch zip, 500 tensors', zip, true));
    rows.push(await measure(`opcode-dense pickle, ${2_000_000 / scale} small tuples`, dense, true));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const header = '| file | size | cat > /dev/null | warden scan (sha256) | ratio | warden scan --no-hash | ratio | python pickletools.genops | warden --no-hash vs genops |';
  console.log(header);
  console.log('|' + header.split('|').slice(1, -1).map(() => '---').join('|') + '|');
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${(r.bytes / MiB).toFixed(0)} MiB | ${r.catMs.toFixed(0)} ms (${mbps(r.bytes, r.catMs)} MiB/s) | ${r.scanMs.toFixed(0)} ms (${mbps(r.bytes, r.scanMs)} MiB/s) | ${(r.catMs / r.scanMs).toFixed(2)}x | ` +
        `${r.scanNoHashMs.toFixed(1)} ms (${mbps(r.bytes, r.scanNoHashMs)} MiB/s) | ${(r.catMs / r.scanNoHashMs).toFixed(2)}x | ` +
        (r.genopsMs === null ? 'n/a | n/a |' : `${r.genopsMs.toFixed(0)} ms | ${(r.genopsMs / r.scanNoHashMs).toFixed(1)}x faster |`),
    );
  }
  console.log(`\nratio = cat time / warden time (1.00x = as fast as reading the file once; >1 = faster because payloads are skipped by offset). Median of ${REPS} runs, page cache warm.`);
}

await main();
