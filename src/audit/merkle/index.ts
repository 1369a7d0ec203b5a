export { HASH_SIZE, EMPTY_ROOT, leafHash, leafHashOfPrefixed, nodeHash } from './hashes.js';
export { MerkleTree } from './MerkleTree.js';
export { verifyInclusionProof, verifyConsistencyProof, rootFromInclusionProof } from './verifyProofs.js';
