export { createArtifactServices, type ArtifactServices, type ArtifactServiceDeps } from './createArtifactServices.js';
