export { randomToken, sha256Hex, hmacSha256Hex, constantTimeEqual } from './secrets.js';
export { ensurePrivateDir, writeFileAtomic, readOrCreateSecretFile } from './files.js';
