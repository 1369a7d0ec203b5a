import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync, symlinkSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import {
  createManifest,
  verifyManifest,
  parseManifest,
  MerkleAccumulator,
  merkleRootOfNodes,
  merkleLeafHash,
  ShardHasher,
} from '../../src/artifacts/index.js';

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-manifest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Deterministic pseudo-random bytes (xorshift32, fixed seed) so failures reproduce. */
function bytes(n: number, seed = 42): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

// RFC 6962 test vectors (certificate-transparency reference implementation, merkle_tree_test).
const CT_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => Buffer.from(h, 'hex'));
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

test('Merkle roots match the RFC 6962 reference vectors', () => {
  assert.equal(new MerkleAccumulator().finish().root.toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  for (let n = 1; n <= CT_LEAVES.length; n++) {
    const acc = new MerkleAccumulator();
    for (const leaf of CT_LEAVES.slice(0, n)) acc.addLeaf(leaf);
    assert.equal(acc.finish().root.toString('hex'), CT_ROOTS[n - 1], `root of ${n} leaves`);
  }
});

test('bounded node levels give the same root as the full leaf level for every size', () => {
  for (let n = 1; n <= 70; n++) {
    const full = new MerkleAccumulator();
    const bounded = new MerkleAccumulator({ maxNodes: 4 });
    for (let i = 0; i < n; i++) {
      const leaf = Buffer.from(`row-${i}`);
      full.addLeaf(leaf);
      bounded.addLeaf(leaf);
    }
    const f = full.finish();
    const b = bounded.finish();
    assert.ok(b.nodes.length <= 5, `n=${n}: ${b.nodes.length} nodes`);
    assert.equal(b.root.toString('hex'), f.root.toString('hex'), `n=${n}`);
    // The same level, recomputed with a fixed level, yields the identical node list (what verify relies on).
    const fixed = new MerkleAccumulator({ level: b.level });
    for (let i = 0; i < n; i++) fixed.addLeaf(Buffer.from(`row-${i}`));
    assert.deepEqual(fixed.finish().nodes, b.nodes);
    assert.equal(merkleRootOfNodes(b.nodes).toString('hex'), f.root.toString('hex'));
  }
  assert.equal(merkleLeafHash(Buffer.alloc(0)).toString('hex'), CT_ROOTS[0]);
});

test('a model directory manifest has per-file sha256 subjects equal to sha256sum and verifies clean', async (t) => {
  const dir = tmp(t);
  mkdirSync(join(dir, 'model', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'model', 'weights.bin'), bytes(300_000));
  writeFileSync(join(dir, 'model', 'config.json'), '{"layers":2}');
  writeFileSync(join(dir, 'model', 'sub', 'tokenizer.txt'), 'a\nb\n');
  writeFileSync(join(dir, 'model', 'empty'), '');
  const m = await createManifest(join(dir, 'model'), { kind: 'model' });
  assert.equal(m._type, 'https://in-toto.io/Statement/v1');
  assert.equal(m.predicateType, 'https://model_signing/signature/v1.0');
  assert.equal(m.predicate.serialization.method, 'files');
  assert.deepEqual(m.subject.map((s) => s.name), ['config.json', 'empty', 'sub/tokenizer.txt', 'weights.bin']);
  assert.equal(m.subject.find((s) => s.name === 'weights.bin')!.digest.sha256, sha256(bytes(300_000)));
  assert.equal(m.subject.find((s) => s.name === 'empty')!.digest.sha256, sha256(Buffer.alloc(0)));
  const v = await verifyManifest(join(dir, 'model'), JSON.parse(JSON.stringify(m)));
  assert.equal(v.ok, true);
  assert.equal(v.rootDigest, m.predicate.warden.rootDigest);
});

test('flipping one byte in a model file fails verification naming that file (sharded, worker pool)', async (t) => {
  const dir = tmp(t);
  mkdirSync(join(dir, 'm'));
  const big = bytes(5 * 1024 * 1024 + 123, 7);
  writeFileSync(join(dir, 'm', 'model.safetensors'), big);
  writeFileSync(join(dir, 'm', 'README'), 'hello');
  const hasher = new ShardHasher(2);
  t.after(() => hasher.close());
  const m = await createManifest(join(dir, 'm'), { kind: 'model', shardSizeBytes: 1024 * 1024, hasher });
  assert.equal(m.predicate.serialization.method, 'shards');
  assert.equal(m.predicate.resources.filter((r) => r.name.startsWith('model.safetensors:')).length, 6);
  assert.ok(m.subject.find((s) => s.name === 'model.safetensors')!.digest['sha256-shards']);
  assert.equal((await verifyManifest(join(dir, 'm'), m, { hasher })).ok, true);

  const fd = openSync(join(dir, 'm', 'model.safetensors'), 'r+');
  writeSync(fd, Buffer.from([big[3 * 1024 * 1024 + 5]! ^ 0x01]), 0, 1, 3 * 1024 * 1024 + 5);
  closeSync(fd);
  const v = await verifyManifest(join(dir, 'm'), m, { hasher });
  assert.equal(v.ok, false);
  assert.deepEqual(v.files.filter((f) => f.status !== 'ok').map((f) => [f.path, f.status]), [['model.safetensors', 'modified']]);
});

test('missing and added files are named; symlinks are refused', async (t) => {
  const dir = tmp(t);
  mkdirSync(join(dir, 'm'));
  writeFileSync(join(dir, 'm', 'a.bin'), 'a');
  writeFileSync(join(dir, 'm', 'b.bin'), 'b');
  const m = await createManifest(join(dir, 'm'), { kind: 'model' });
  rmSync(join(dir, 'm', 'b.bin'));
  writeFileSync(join(dir, 'm', 'c.pkl'), 'evil');
  const v = await verifyManifest(join(dir, 'm'), m);
  assert.deepEqual(v.files.map((f) => [f.path, f.status]), [['a.bin', 'ok'], ['b.bin', 'missing'], ['c.pkl', 'added']]);
  symlinkSync('/etc/passwd', join(dir, 'm', 'link'));
  await assert.rejects(createManifest(join(dir, 'm'), { kind: 'model' }), { code: 'WARDEN_ARTIFACT_PATH_INVALID' });
  await assert.rejects(createManifest(join(dir, 'nope'), { kind: 'model' }), { code: 'WARDEN_ARTIFACT_PATH_INVALID' });
});

test('changing one row of a dataset: the Merkle check locates that line', async (t) => {
  const dir = tmp(t);
  mkdirSync(join(dir, 'ds'));
  const rows = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ id: i, text: `review number ${i}`, label: i % 2 }));
  writeFileSync(join(dir, 'ds', 'train.jsonl'), rows.join('\n') + '\n');
  writeFileSync(join(dir, 'ds', 'images.bin'), bytes(10_000, 3));
  const m = await createManifest(join(dir, 'ds'), { kind: 'dataset', dataset: { chunkBytes: 1024 } });
  const train = m.predicate.warden.datasets!.find((d) => d.path === 'train.jsonl')!;
  assert.equal(train.unit, 'record');
  assert.equal(train.leafCount, 1000);
  assert.equal(train.level, 0);
  assert.equal(m.predicate.warden.datasets!.find((d) => d.path === 'images.bin')!.leafCount, 10);

  const poisoned = [...rows];
  poisoned[736] = JSON.stringify({ id: 736, text: 'review number 736', label: 1 - (736 % 2) });
  writeFileSync(join(dir, 'ds', 'train.jsonl'), poisoned.join('\n') + '\n');
  const img = bytes(10_000, 3);
  img[5000] ^= 0xff;
  writeFileSync(join(dir, 'ds', 'images.bin'), img);
  const v = await verifyManifest(join(dir, 'ds'), m);
  assert.equal(v.ok, false);
  const t1 = v.files.find((f) => f.path === 'train.jsonl')!;
  assert.equal(t1.status, 'modified');
  assert.deepEqual(t1.locations, [{ unit: 'record', first: 737, last: 737 }]);
  assert.deepEqual(v.files.find((f) => f.path === 'images.bin')!.locations, [{ unit: 'chunk', first: 4096, last: 5119 }]);
});

test('large datasets keep a bounded node level and locate a poisoned row to its block', async (t) => {
  const dir = tmp(t);
  const rows = Array.from({ length: 5000 }, (_, i) => `${i},text ${i},${i % 3}`);
  const file = join(dir, 'big.csv');
  writeFileSync(file, rows.join('\n'));
  const m = await createManifest(file, { kind: 'dataset', dataset: { maxStoredNodes: 64 } });
  const d = m.predicate.warden.datasets![0]!;
  assert.equal(d.leafCount, 5000);
  assert.ok(Buffer.from(d.nodes, 'base64').length / 32 <= 64);
  const full = new MerkleAccumulator();
  for (const r of rows) full.addLeaf(Buffer.from(r));
  assert.equal(d.root, full.finish().root.toString('hex'));
  rows[4321] = '4321,text 4321,POISON';
  writeFileSync(file, rows.join('\n'));
  const v = await verifyManifest(file, m);
  const loc = v.files[0]!.locations!;
  assert.equal(loc.length, 1);
  assert.ok(loc[0]!.first <= 4322 && loc[0]!.last >= 4322 && loc[0]!.last - loc[0]!.first < 2 ** d.level);
});

test('an appended row is reported with the changed row count', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'd.jsonl');
  writeFileSync(file, 'a\nb\nc\n');
  const m = await createManifest(file, { kind: 'dataset' });
  writeFileSync(file, 'a\nb\nc\nd\n');
  const v = await verifyManifest(file, m);
  assert.deepEqual(v.files[0]!.leafCount, { expected: 3, actual: 4 });
  assert.deepEqual(v.files[0]!.locations, [{ unit: 'record', first: 4, last: 4 }]);
});

test('a manifest whose root digest does not match its resources is rejected', async (t) => {
  const dir = tmp(t);
  writeFileSync(join(dir, 'f'), 'x');
  const m = await createManifest(join(dir, 'f'), { kind: 'model' });
  const forged = JSON.parse(JSON.stringify(m));
  forged.predicate.resources[0].digest = sha256(Buffer.from('y'));
  assert.throws(() => parseManifest(forged), { code: 'WARDEN_ARTIFACT_MANIFEST_INVALID' });
  const escape = JSON.parse(JSON.stringify(m));
  escape.predicate.warden.files[0].path = '../etc/passwd';
  assert.throws(() => parseManifest(escape), { code: 'WARDEN_ARTIFACT_MANIFEST_INVALID' });
  assert.throws(() => parseManifest({}), { code: 'WARDEN_ARTIFACT_MANIFEST_INVALID' });

  writeFileSync(join(dir, 'rows.jsonl'), '1\n2\n3\n');
  const ds = await createManifest(join(dir, 'rows.jsonl'), { kind: 'dataset' });
  const badNodes = JSON.parse(JSON.stringify(ds));
  const raw = Buffer.from(badNodes.predicate.warden.datasets[0].nodes, 'base64');
  raw[0] ^= 1;
  badNodes.predicate.warden.datasets[0].nodes = raw.toString('base64');
  assert.throws(() => parseManifest(badNodes), { code: 'WARDEN_ARTIFACT_MANIFEST_INVALID', message: /do not hash to the Merkle root/ });
  const badCount = JSON.parse(JSON.stringify(ds));
  badCount.predicate.warden.datasets[0].leafCount = 9;
  assert.throws(() => parseManifest(badCount), { code: 'WARDEN_ARTIFACT_MANIFEST_INVALID', message: /leaf count/ });
});

test('the dataset Merkle root agrees with an independent Python implementation', (t) => {
  const py = spawnSync('python3', ['-c', 'print(1)']);
  if (py.status !== 0) return t.skip('python3 not available');
  const dir = tmp(t);
  const file = join(dir, 'rows.jsonl');
  writeFileSync(file, Array.from({ length: 37 }, (_, i) => `{"i":${i}}`).join('\n') + '\n');
  const script = `
import hashlib, sys
def mth(leaves):
    if len(leaves) == 0: return hashlib.sha256(b'').digest()
    if len(leaves) == 1: return hashlib.sha256(b'\\x00' + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves): k *= 2
    return hashlib.sha256(b'\\x01' + mth(leaves[:k]) + mth(leaves[k:])).digest()
data = open(sys.argv[1], 'rb').read().split(b'\\n')
if data and data[-1] == b'': data = data[:-1]
print(mth(data).hex())
`;
  const r = spawnSync('python3', ['-c', script, file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return createManifest(file, { kind: 'dataset' }).then((m) => {
    assert.equal(m.predicate.warden.datasets![0]!.root, r.stdout.trim());
    assert.ok(readFileSync(file).length > 0);
  });
});

test('a file that cannot be read fails with a clean error and the pool keeps working', async (t) => {
  const dir = tmp(t);
  const hasher = new ShardHasher(2);
  t.after(() => hasher.close());
  await assert.rejects(hasher.hash({ path: join(dir, 'missing'), start: 0, end: 10 }), { code: 'WARDEN_ARTIFACT_HASH_FAILED' });
  writeFileSync(join(dir, 'short'), 'abc');
  await assert.rejects(hasher.hash({ path: join(dir, 'short'), start: 0, end: 10 }), { code: 'WARDEN_ARTIFACT_HASH_FAILED', message: /shrank/ });
  assert.equal(await hasher.hash({ path: join(dir, 'short'), start: 0, end: 3 }), sha256(Buffer.from('abc')));
});

test('a directory of many files (images-style dataset) is hashed with bounded concurrency, in stable order', async (t) => {
  const dir = tmp(t);
  mkdirSync(join(dir, 'imgs'));
  for (let i = 0; i < 300; i++) writeFileSync(join(dir, 'imgs', `img-${String(i).padStart(4, '0')}.png`), bytes(100 + i, i + 1));
  const m = await createManifest(join(dir, 'imgs'), { kind: 'dataset', dataset: { chunkBytes: 64 } });
  assert.equal(m.subject.length, 300);
  assert.equal(m.subject[299]!.name, 'img-0299.png');
  assert.equal(m.subject[7]!.digest.sha256, sha256(bytes(107, 8)));
  assert.equal(m.predicate.warden.datasets!.length, 300);
  assert.equal((await verifyManifest(join(dir, 'imgs'), m)).ok, true);
});

test('parallel leaf hashing on the worker pool yields exactly the sequential Merkle tree', async (t) => {
  const dir = tmp(t);
  const hasher = new ShardHasher(2);
  t.after(() => hasher.close());
  const { datasetMerkle, segmentBoundaries } = await import('../../src/artifacts/manifest/datasetMerkle.js');
  const longLine = 'x'.repeat(5000);
  const cases: Record<string, string> = {
    trailingNewline: Array.from({ length: 500 }, (_, i) => `{"row":${i}}`).join('\n') + '\n',
    noTrailingNewline: Array.from({ length: 333 }, (_, i) => `r${i}`).join('\n'),
    emptyLinesAndLongLine: `a\n\n\n${longLine}\nb\n${longLine}${longLine}\n\nc`,
  };
  for (const [name, content] of Object.entries(cases)) {
    const file = join(dir, `${name}.jsonl`);
    writeFileSync(file, content);
    const bounds = await segmentBoundaries(file, Buffer.byteLength(content), { unit: 'record', chunkBytes: 1, segmentBytes: 700 });
    assert.ok(bounds.length > 3, `${name}: several segments`);
    for (const b of bounds.slice(1, -1)) assert.equal(content.charCodeAt(b - 1), 10, `${name}: segments cut after a newline`);
    for (const opts of [{ maxNodes: 1 << 16 }, { maxNodes: 8 }, { level: 2 }]) {
      const seq = await datasetMerkle(file, { unit: 'record', chunkBytes: 1, ...opts });
      const par = await datasetMerkle(file, { unit: 'record', chunkBytes: 1, ...opts, pool: hasher, parallelMinBytes: 1, segmentBytes: 700 });
      assert.equal(par.root.toString('hex'), seq.root.toString('hex'), `${name} ${JSON.stringify(opts)}`);
      assert.equal(par.leafCount, seq.leafCount);
      assert.deepEqual(par.nodes, seq.nodes);
    }
  }
  const bin = join(dir, 'blob.bin');
  writeFileSync(bin, bytes(10_007, 5));
  const seq = await datasetMerkle(bin, { unit: 'chunk', chunkBytes: 100 });
  const par = await datasetMerkle(bin, { unit: 'chunk', chunkBytes: 100, pool: hasher, parallelMinBytes: 1, segmentBytes: 1000 });
  assert.equal(par.root.toString('hex'), seq.root.toString('hex'));
  assert.equal(par.leafCount, 101);
});
