import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MerkleTree, leafHash } from '../../src/audit/merkle/index.js';
import { rootFromInclusionProof, verifyInclusion } from '../../console/src/lib/merkle.js';

// The console's WebCrypto verifier must agree with the server's Merkle tree (RFC 9162) on
// every index of trees whose sizes cover the edge cases: 1, powers of two, and ragged sizes.
test('console inclusion verifier agrees with the audit MerkleTree for sizes 1..33', async () => {
  for (let size = 1; size <= 33; size++) {
    const tree = new MerkleTree();
    for (let i = 0; i < size; i++) tree.append(leafHash(`record-${i}`));
    const root = tree.root().toString('hex');
    for (let index = 0; index < size; index++) {
      const proof = tree.inclusionProof(index, size).map((b) => b.toString('hex'));
      const leaf = tree.leafHash(index).toString('hex');
      assert.equal(await rootFromInclusionProof(index, size, leaf, proof), root, `size ${size} index ${index}`);
      assert.ok(await verifyInclusion(index, size, leaf, proof, root));
    }
  }
});

test('console inclusion verifier rejects tampered leaves, paths, indexes and sizes', async () => {
  const tree = new MerkleTree();
  for (let i = 0; i < 11; i++) tree.append(leafHash(`record-${i}`));
  const root = tree.root().toString('hex');
  const proof = tree.inclusionProof(6).map((b) => b.toString('hex'));
  const leaf = tree.leafHash(6).toString('hex');
  assert.ok(await verifyInclusion(6, 11, leaf, proof, root));
  assert.equal(await verifyInclusion(6, 11, tree.leafHash(5).toString('hex'), proof, root), false);
  assert.equal(await verifyInclusion(5, 11, leaf, proof, root), false);
  // (size 12 has the same path shape as 11 for index 6; 7 does not.)
  assert.equal(await verifyInclusion(6, 7, leaf, proof, root), false);
  assert.equal(await verifyInclusion(6, 11, leaf, proof.slice(1), root), false);
  assert.equal(await verifyInclusion(6, 11, leaf, [...proof, proof[0]!], root), false);
  const flipped = [...proof];
  flipped[0] = (flipped[0]![0] === '0' ? '1' : '0') + flipped[0]!.slice(1);
  assert.equal(await verifyInclusion(6, 11, leaf, flipped, root), false);
  assert.equal(await verifyInclusion(11, 11, leaf, proof, root), false);
  await assert.rejects(rootFromInclusionProof(0, 11, 'zz', proof), /not hex/);
});
