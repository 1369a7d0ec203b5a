export { createArtifactServices, type ArtifactServices, type ArtifactServiceDeps } from './createArtifactServices.js';
export { createLocalVerifier } from './localVerifier.js';
export { createScannedManifest, type ArtifactScanner } from './createScannedManifest.js';
