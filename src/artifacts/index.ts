export * from './manifest/index.js';
export * from './attestation/index.js';
export * from './vault/index.js';
export * from './registry/index.js';
export * from './lineage/index.js';
export * from './admission/index.js';
export * from './service/index.js';
