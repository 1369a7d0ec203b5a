export { randomToken, sha256Hex, hmacSha256Hex, constantTimeEqual } from './secrets.js';
export { EMBEDDED_STORE_DIR, ensurePrivateDir, assertPrivateDir, assertDataDir, ensureDataDir, readSecretFile, pathTaken, stateFileFlags, writeFileAtomic, readOrCreateSecretFile, fsyncDir, removeStaleTempFiles, ATOMIC_TEMP_NAME } from './files.js';
export { FileKeyProvider, type KeyProvider, type WrappedDataKey } from './keyProvider/index.js';
export { sealFile, openFile, rewrapDataKey, DEFAULT_CHUNK_BYTES, type SealedKeyRecord } from './envelope/index.js';
