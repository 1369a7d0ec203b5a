export { ArtifactVault, type StoredBlob, type ArtifactVaultOptions } from './ArtifactVault.js';
