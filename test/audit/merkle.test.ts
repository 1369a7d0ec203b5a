import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { MerkleTree, leafHash, leafHashOfPrefixed, nodeHash, EMPTY_ROOT, verifyInclusionProof, verifyConsistencyProof } from '../../src/audit/merkle/index.js';

// Test vectors published with RFC 6962's reference implementation (certificate-transparency
// merkle_tree_test.cc, reused by transparency-dev/merkle): eight leaf inputs, the root of
// every prefix, and the RFC's example inclusion and consistency proofs.
const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => Buffer.from(h, 'hex'));
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const INCLUSION: { index: number; size: number; proof: string[] }[] = [
  { index: 0, size: 1, proof: [] },
  {
    index: 0,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { index: 2, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    index: 1,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];
const CONSISTENCY: { first: number; second: number; proof: string[] }[] = [
  { first: 1, second: 1, proof: [] },
  {
    first: 1,
    second: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    first: 6,
    second: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    first: 2,
    second: 5,
    proof: ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b'],
  },
];

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Buffer => Buffer.from(s, 'hex');

function treeOf(n: number): MerkleTree {
  const t = new MerkleTree();
  for (const l of LEAVES.slice(0, n)) t.append(leafHash(l));
  return t;
}

test('empty tree root is SHA-256 of the empty string', () => {
  assert.equal(hex(EMPTY_ROOT), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(hex(new MerkleTree().root()), hex(EMPTY_ROOT));
});

test('leaf and node hashes use the RFC 9162 domain-separation prefixes', () => {
  assert.equal(hex(leafHash(Buffer.alloc(0))), createHash('sha256').update(Buffer.from([0])).digest('hex'));
  for (const l of LEAVES) assert.equal(hex(leafHashOfPrefixed(Buffer.concat([Buffer.from([0]), l]))), hex(leafHash(l)));
  assert.equal(hex(leafHash('h\u00e9')), hex(leafHash(Buffer.from('h\u00e9', 'utf8'))), 'strings hash as UTF-8');
  const a = Buffer.alloc(32, 1);
  const b = Buffer.alloc(32, 2);
  assert.equal(hex(nodeHash(a, b)), createHash('sha256').update(Buffer.concat([Buffer.from([1]), a, b])).digest('hex'));
});

test('roots of every prefix match the published vectors', () => {
  const full = treeOf(8);
  for (let n = 1; n <= 8; n++) {
    assert.equal(hex(treeOf(n).root()), ROOTS[n - 1], `incremental root at size ${n}`);
    assert.equal(hex(full.root(n)), ROOTS[n - 1], `historic root at size ${n}`);
  }
});

test('inclusion proofs match the published vectors and verify', () => {
  const t = treeOf(8);
  for (const v of INCLUSION) {
    const proof = t.inclusionProof(v.index, v.size);
    assert.deepEqual(proof.map(hex), v.proof, `PATH(${v.index}, D[${v.size}])`);
    assert.ok(verifyInclusionProof(v.index, v.size, leafHash(LEAVES[v.index]!), v.proof.map(unhex), unhex(ROOTS[v.size - 1]!)));
  }
});

test('inclusion verification rejects wrong leaf, index, size, root and mangled proofs', () => {
  const v = INCLUSION[2]!;
  const leaf = leafHash(LEAVES[v.index]!);
  const proof = v.proof.map(unhex);
  const root = unhex(ROOTS[v.size - 1]!);
  assert.equal(verifyInclusionProof(v.index, v.size, leafHash(LEAVES[4]!), proof, root), false);
  assert.equal(verifyInclusionProof(v.index + 1, v.size, leaf, proof, root), false);
  assert.equal(verifyInclusionProof(v.index, v.size + 1, leaf, proof, root), false);
  assert.equal(verifyInclusionProof(v.index, v.size, leaf, proof, unhex(ROOTS[6]!)), false);
  assert.equal(verifyInclusionProof(v.index, v.size, leaf, proof.slice(1), root), false);
  assert.equal(verifyInclusionProof(v.index, v.size, leaf, [...proof, proof[0]!], root), false);
  assert.equal(verifyInclusionProof(v.index, v.size, leaf, [proof[1]!, proof[0]!, proof[2]!], root), false);
  assert.equal(verifyInclusionProof(8, 8, leaf, proof, root), false);
  assert.equal(verifyInclusionProof(-1, 8, leaf, proof, root), false);
  assert.equal(verifyInclusionProof(v.index, v.size, leaf, [Buffer.alloc(31), ...proof.slice(1)], root), false);
});

test('consistency proofs match the published vectors and verify', () => {
  const t = treeOf(8);
  for (const v of CONSISTENCY) {
    const proof = t.consistencyProof(v.first, v.second);
    assert.deepEqual(proof.map(hex), v.proof, `PROOF(${v.first}, D[${v.second}])`);
    assert.ok(verifyConsistencyProof(v.first, v.second, unhex(ROOTS[v.first - 1]!), unhex(ROOTS[v.second - 1]!), v.proof.map(unhex)));
  }
});

test('consistency verification rejects swapped roots, wrong sizes and mangled proofs', () => {
  const v = CONSISTENCY[2]!;
  const proof = v.proof.map(unhex);
  const r1 = unhex(ROOTS[v.first - 1]!);
  const r2 = unhex(ROOTS[v.second - 1]!);
  assert.equal(verifyConsistencyProof(v.first, v.second, r2, r1, proof), false);
  assert.equal(verifyConsistencyProof(v.first, v.second, r1, unhex(ROOTS[6]!), proof), false);
  assert.equal(verifyConsistencyProof(v.first - 1, v.second, r1, r2, proof), false);
  assert.equal(verifyConsistencyProof(v.first, v.second, r1, r2, proof.slice(0, 2)), false);
  assert.equal(verifyConsistencyProof(v.first, v.second, r1, r2, []), false);
  assert.equal(verifyConsistencyProof(v.second, v.first, r2, r1, proof), false);
  assert.equal(verifyConsistencyProof(1, 1, unhex(ROOTS[0]!), unhex(ROOTS[1]!), []), false);
});

test('every proof the tree produces verifies (all index/size pairs up to 70 leaves)', () => {
  const t = new MerkleTree();
  for (let i = 0; i < 70; i++) t.append(leafHash(Buffer.from(`entry-${i}`)));
  for (let size = 1; size <= 70; size++) {
    const root = t.root(size);
    for (let i = 0; i < size; i++) {
      assert.ok(verifyInclusionProof(i, size, t.leafHash(i), t.inclusionProof(i, size), root), `inclusion ${i}/${size}`);
    }
    for (let first = 0; first <= size; first++) {
      assert.ok(verifyConsistencyProof(first, size, t.root(first), root, t.consistencyProof(first, size)), `consistency ${first}→${size}`);
    }
  }
});

test('out-of-range requests fail with a stable code', () => {
  const t = treeOf(3);
  assert.throws(() => t.inclusionProof(3, 3), { code: 'WARDEN_AUDIT_INDEX_OUT_OF_RANGE' });
  assert.throws(() => t.root(4), { code: 'WARDEN_AUDIT_INDEX_OUT_OF_RANGE' });
  assert.throws(() => t.consistencyProof(4, 3), { code: 'WARDEN_AUDIT_INDEX_OUT_OF_RANGE' });
  assert.throws(() => t.append(Buffer.alloc(31)), { code: 'WARDEN_INPUT_INVALID' });
});

test('a tree keeping only groups of 2^k leaves gives the same roots and proofs, with stored leaves checked', () => {
  const leaves = Array.from({ length: 70 }, (_, i) => leafHash(Buffer.from(`entry-${i}`)));
  const full = new MerkleTree();
  for (const l of leaves) full.append(l);
  for (const minLevel of [1, 2, 3]) {
    const t = new MerkleTree({ minLevel });
    for (const l of leaves) t.append(l);
    const G = t.groupSize;
    const groups = (ids: number[]) => new Map(ids.map((g) => [g, leaves.slice(g * G, (g + 1) * G)] as const));
    for (let size = 1; size <= 70; size++) {
      assert.equal(hex(t.withGroups(groups(t.groupsForRoot(size)), () => t.root(size))), hex(full.root(size)), `root ${size} (k=${minLevel})`);
      for (let i = 0; i < size; i += 3) {
        const p = t.withGroups(groups(t.groupsForInclusion(i, size)), () => t.inclusionProof(i, size));
        assert.deepEqual(p.map(hex), full.inclusionProof(i, size).map(hex), `inclusion ${i}/${size} (k=${minLevel})`);
      }
      for (let first = 0; first <= size; first += 2) {
        const p = t.withGroups(groups(t.groupsForConsistency(first, size)), () => t.consistencyProof(first, size));
        assert.deepEqual(p.map(hex), full.consistencyProof(first, size).map(hex), `consistency ${first}→${size} (k=${minLevel})`);
      }
    }
    // Leaves that do not hash to the group kept in memory are refused; missing ones are a bug.
    const forged = leaves.slice(0, G).map((l, i) => (i === 0 ? leafHash(Buffer.from('forged')) : l));
    assert.throws(() => t.withGroups(new Map([[0, forged]]), () => t.inclusionProof(0, 70)), { code: 'WARDEN_AUDIT_TAMPERED' });
    assert.throws(() => t.inclusionProof(0, 70), { code: 'WARDEN_INTERNAL' });
  }
});

test('roots match a naive RFC 9162 MTH, for whole trees and for groups of 256 reduced in place', () => {
  const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
  const mth = (ls: Buffer[]): Buffer => {
    if (ls.length === 1) return ls[0]!;
    let k = 1;
    while (k * 2 < ls.length) k *= 2;
    return sha(Buffer.from([0x01]), mth(ls.slice(0, k)), mth(ls.slice(k)));
  };
  const leaves = Array.from({ length: 600 }, (_, i) => sha(Buffer.from([0x00]), Buffer.from(`entry-${i}`)));
  const full = new MerkleTree();
  const grouped = new MerkleTree({ minLevel: 8 });
  for (let i = 0; i < leaves.length; i++) {
    full.append(leaves[i]!);
    grouped.append(leaves[i]!);
    if (i === 300) grouped.retainGroupOf(300); // kept (copied) when group 1 completes, before its in-place reduction
    if (i < 70 || i === 255 || i === 511) assert.equal(hex(full.root(i + 1)), hex(mth(leaves.slice(0, i + 1))), `root ${i + 1}`);
  }
  assert.equal(hex(grouped.root(512)), hex(mth(leaves.slice(0, 512))));
  assert.equal(hex(grouped.root(600)), hex(mth(leaves)));
  assert.deepEqual(grouped.inclusionProof(300, 512).map(hex), full.inclusionProof(300, 512).map(hex));
  const group0 = new Map([[0, leaves.slice(0, 256)]]);
  assert.equal(hex(grouped.withGroups(group0, () => grouped.root(200))), hex(mth(leaves.slice(0, 200))));
});
