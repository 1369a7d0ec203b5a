export * from './manifest/index.js';
export * from './attestation/index.js';
export * from './vault/index.js';
