export * from './Manifest.js';
export { listArtifactFiles, type ArtifactFile } from './listArtifactFiles.js';
export { ShardHasher, hashRange, type ShardTask } from './ShardHasher.js';
export { MerkleAccumulator, merkleLeafHash, merkleNodeHash, merkleRootOfNodes, type MerkleSummary } from './merkle.js';
export { datasetMerkle, type DatasetMerkleOptions, type MerkleUnit } from './datasetMerkle.js';
export { createManifest, rootDigestOf, hashFiles, DEFAULT_SHARD_SIZE, type CreateManifestOptions } from './createManifest.js';
export { parseManifest } from './parseManifest.js';
export { verifyManifest, locateChanges, type ManifestVerification, type FileVerification, type RecordLocation } from './verifyManifest.js';
export { manifestFileDigests, type ManifestFileDigests } from './manifestFiles.js';
