// Artifact integrity benchmark (all local, bounded in count and time):
//  1. manifest hashing throughput of a generated 2 GiB file vs `sha256sum` in the same run
//     (Warden single stream and Warden parallel shards on worker threads);
//  2. dataset Merkle hashing (one leaf per JSONL record) vs sha256sum of the same file;
//  3. DSSE sign / verify latency (Sigstore bundle + @sigstore/verify + trust policy) vs raw
//     node:crypto sign/verify of the same PAE bytes;
//  4. gateway admission check (admitModel) vs a bare Map lookup.
// Usage: node --import tsx bench/artifacts.ts [--size-mib 2048] [--rows 2000000]
import { mkdtempSync, rmSync, openSync, writeSync, closeSync, mkdirSync } from 'node:fs';
import { tmpdir, availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import {
  createManifest,
  hashRange,
  ShardHasher,
  signStatement,
  signerFromPrivateKey,
  AttestationVerifier,
  preAuthEncoding,
  IN_TOTO_PAYLOAD_TYPE,
  admissionTableFromRows,
  admitModel,
} from '../src/artifacts/index.js';
import { canonicalJson } from '../src/audit/index.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SIZE_MIB = arg('--size-mib', 2048);
const ROWS = arg('--rows', 2_000_000);
const REPEATS = 3;

const dir = mkdtempSync(join(tmpdir(), 'warden-bench-artifacts-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function generateFile(path: string, mib: number): void {
  // Deterministic, incompressible-looking content (xorshift32, fixed seed), written 16 MiB at a time.
  const block = Buffer.allocUnsafe(16 * 1024 * 1024);
  let x = 2463534242;
  for (let i = 0; i < block.length; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    block.writeUInt32LE(x, i);
  }
  const fd = openSync(path, 'w');
  for (let i = 0; i < mib / 16; i++) {
    block.writeUInt32LE(i, 0); // blocks differ
    writeSync(fd, block);
  }
  closeSync(fd);
}

async function time<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const t = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, value };
}

function sha256sum(path: string): { ms: number; hex: string } {
  const t = process.hrtime.bigint();
  const r = spawnSync('sha256sum', [path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sha256sum failed: ${r.stderr}`);
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, hex: r.stdout.split(' ')[0]! };
}

const best = (xs: number[]) => Math.min(...xs);
const fmt = (n: number, d = 1) => n.toFixed(d);
const rows: string[][] = [];
const row = (...c: (string | number)[]) => rows.push(c.map(String));

// ---- 1. 2 GiB file hashing ----
const big = join(dir, 'model.bin');
process.stderr.write(`generating ${SIZE_MIB} MiB…\n`);
generateFile(big, SIZE_MIB);
const bytes = SIZE_MIB * 1024 * 1024;
sha256sum(big); // warm the page cache so every contender reads from memory

const base: number[] = [];
const single: number[] = [];
const sharded: number[] = [];
const hasher = new ShardHasher(availableParallelism());
let singleHex = '';
let baseHex = '';
for (let i = 0; i < REPEATS; i++) {
  const b = sha256sum(big);
  base.push(b.ms);
  baseHex = b.hex;
  const s = await time(() => hashRange({ path: big, start: 0, end: bytes }));
  single.push(s.ms);
  singleHex = s.value;
  const m = await time(() => createManifest(big, { kind: 'model', shardSizeBytes: 64 * 1024 * 1024, hasher }));
  sharded.push(m.ms);
}
await hasher.close();
if (singleHex !== baseHex) throw new Error('single-stream digest differs from sha256sum');
const mibps = (ms: number) => SIZE_MIB / (ms / 1000);
row('hash 2 GiB file: sha256sum (baseline)', fmt(mibps(best(base))), 'MiB/s', '1.00');
row('hash: Warden single stream (1 thread)', fmt(mibps(best(single))), 'MiB/s', fmt(best(base) / best(single), 2));
row(`hash: Warden manifest, 64 MiB shards, ${availableParallelism()} workers`, fmt(mibps(best(sharded))), 'MiB/s', fmt(best(base) / best(sharded), 2));
rmSync(big);

// ---- 2. dataset Merkle tree (one leaf per record) ----
const ds = join(dir, 'ds');
mkdirSync(ds);
const dsFile = join(ds, 'train.jsonl');
{
  const fd = openSync(dsFile, 'w');
  const chunk: string[] = [];
  for (let i = 0; i < ROWS; i++) {
    chunk.push(`{"id":${i},"text":"review text number ${i} with some words in it","label":${i % 2}}`);
    if (chunk.length === 50_000) {
      writeSync(fd, chunk.join('\n') + '\n');
      chunk.length = 0;
    }
  }
  if (chunk.length) writeSync(fd, chunk.join('\n') + '\n');
  closeSync(fd);
}
sha256sum(dsFile);
const dsBase = best([sha256sum(dsFile).ms, sha256sum(dsFile).ms]);
const dsWarden = best([(await time(() => createManifest(ds, { kind: 'dataset' }))).ms, (await time(() => createManifest(ds, { kind: 'dataset' }))).ms]);
row(`dataset ${(ROWS / 1e6).toFixed(1)}M rows: sha256sum (baseline)`, fmt(ROWS / (dsBase / 1000) / 1e6, 2), 'M rows/s', '1.00');
row('dataset: Warden manifest + RFC 6962 Merkle tree per row', fmt(ROWS / (dsWarden / 1000) / 1e6, 2), 'M rows/s', fmt(dsBase / dsWarden, 2));

// ---- 3. sign / verify latency ----
// A realistic signed statement: the manifest of a model directory with 24 files.
const modelDir = join(dir, 'model');
mkdirSync(modelDir);
for (let i = 0; i < 24; i++) {
  const fd = openSync(join(modelDir, `model-${String(i).padStart(5, '0')}-of-00024.safetensors`), 'w');
  writeSync(fd, Buffer.alloc(4096, i));
  closeSync(fd);
}
const statement = await createManifest(modelDir, { kind: 'model' });
const payload = Buffer.from(canonicalJson(statement));
const pae = preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload);
for (const kind of ['ed25519', 'ecdsa-p256'] as const) {
  const { privateKey, publicKey } = kind === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const signer = signerFromPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  const verifier = new AttestationVerifier({ publicKeys: [publicKey] });
  const alg = kind === 'ed25519' ? null : 'sha256';
  const measure = (fn: () => unknown): number => {
    const deadline = Date.now() + 2000;
    let n = 0;
    const t = process.hrtime.bigint();
    while (n < 5000 && Date.now() < deadline) {
      fn();
      n++;
    }
    return Number(process.hrtime.bigint() - t) / 1e3 / n;
  };
  const bundle = signStatement(statement, signer);
  const rawSig = cryptoSign(alg, pae, privateKey);
  const baseSign = measure(() => cryptoSign(alg, pae, privateKey));
  const wSign = measure(() => signStatement(statement, signer));
  const baseVerify = measure(() => cryptoVerify(alg, pae, publicKey, rawSig));
  const wVerify = measure(() => verifier.verify(bundle));
  row(`sign ${kind}: node:crypto sign of PAE (baseline)`, fmt(baseSign), 'µs/op', '1.00');
  row(`sign ${kind}: Warden DSSE → Sigstore bundle`, fmt(wSign), 'µs/op', fmt(baseSign / wSign, 2));
  row(`verify ${kind}: node:crypto verify of PAE (baseline)`, fmt(baseVerify), 'µs/op', '1.00');
  row(`verify ${kind}: Warden bundle + @sigstore/verify + statement parse`, fmt(wVerify), 'µs/op', fmt(baseVerify / wVerify, 2));
}

// ---- 4. admission check ----
const admissionRows = Array.from({ length: 1000 }, (_, i) => ({ name: `model-${i}`, version: '3', digest: (i.toString(16).padStart(4, '0')).repeat(16), stage: 'serving', revoked: false }));
const table = admissionTableFromRows(admissionRows);
const map = new Map(admissionRows.map((r) => [r.name, r.digest]));
const names = admissionRows.map((r) => r.name);
const N = 5_000_000;
let sink = 0;
let t = process.hrtime.bigint();
for (let i = 0; i < N; i++) sink += map.get(names[i % 1000]!) === admissionRows[i % 1000]!.digest ? 1 : 0;
const baseNs = Number(process.hrtime.bigint() - t) / N;
t = process.hrtime.bigint();
for (let i = 0; i < N; i++) sink += admitModel(table, names[i % 1000]!, undefined, admissionRows[i % 1000]!.digest).ok ? 1 : 0;
const admitNs = Number(process.hrtime.bigint() - t) / N;
if (sink !== 2 * N) throw new Error('admission benchmark lost decisions');
row('admission: Map lookup + digest compare (baseline)', fmt(baseNs), 'ns/op', '1.00');
row('admission: admitModel (1000 models, digest reported)', fmt(admitNs), 'ns/op', fmt(baseNs / admitNs, 2));

const header = ['benchmark', 'value', 'unit', 'ratio vs baseline (>1 = Warden faster)'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}, file ${SIZE_MIB} MiB, best of ${REPEATS}`);
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
