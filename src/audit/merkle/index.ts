export { HASH_SIZE, EMPTY_ROOT, leafHash, leafHashOfPrefixed, nodeHash } from './hashes.js';
export { MerkleTree, type MerkleTreeOptions } from './MerkleTree.js';
export { verifyInclusionProof, verifyConsistencyProof, rootFromInclusionProof } from './verifyProofs.js';
