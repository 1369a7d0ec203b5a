import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { readOrCreateSecretFile, readSecretFile, pathTaken } from '../crypto/index.js';
import { WardenError } from '../errors/index.js';

/** An HMAC key shorter than this is refused, wherever it comes from. */
const MIN_SECRET_BYTES = 32;

function serverSecretPath(dataDir: string): string {
  return join(dataDir, 'keys', 'server-secret');
}

/** The file must hold a whole key: an empty or truncated one would make every token forgeable by brute force. */
function checkedFileSecret(path: string, secret: Buffer): Buffer {
  if (secret.length < MIN_SECRET_BYTES) {
    throw new WardenError('WARDEN_CONFIG_INVALID', `${path} holds ${secret.length} bytes, fewer than ${MIN_SECRET_BYTES}: restore it from a backup or set WARDEN_SERVER_SECRET`);
  }
  return secret;
}

/**
 * The HMAC key for API keys and admin tokens. Embedded mode keeps it in
 * <dataDir>/keys/server-secret (0600, ≥ 32 bytes, never a symlink); scale-out deployments pass
 * the same value to every control plane and gateway as WARDEN_SERVER_SECRET (base64, ≥ 32 bytes).
 */
export function loadServerSecret(dataDir: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  const fromEnv = env.WARDEN_SERVER_SECRET;
  if (fromEnv) {
    const secret = Buffer.from(fromEnv, 'base64');
    if (secret.length < MIN_SECRET_BYTES) throw new WardenError('WARDEN_CONFIG_INVALID', `WARDEN_SERVER_SECRET must be at least ${MIN_SECRET_BYTES} bytes, base64-encoded`);
    return secret;
  }
  const path = serverSecretPath(dataDir);
  return checkedFileSecret(path, readOrCreateSecretFile(path, () => randomBytes(MIN_SECRET_BYTES)));
}

/** For remote PEPs: the secret must come from WARDEN_SERVER_SECRET or an existing file, never be invented. */
export function requireServerSecret(dataDir: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  if (env.WARDEN_SERVER_SECRET) return loadServerSecret(dataDir, env);
  const path = serverSecretPath(dataDir);
  if (!pathTaken(path)) throw new WardenError('WARDEN_CONFIG_INVALID', 'set WARDEN_SERVER_SECRET (the control plane\'s, base64) so this gateway can verify API keys');
  return checkedFileSecret(path, readSecretFile(path));
}
