export { sealFile, openFile, rewrapDataKey, DEFAULT_CHUNK_BYTES, type SealedKeyRecord } from './envelopeEncryption.js';
