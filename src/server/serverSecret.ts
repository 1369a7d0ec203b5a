import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { readOrCreateSecretFile } from '../crypto/index.js';
import { WardenError } from '../errors/index.js';

/**
 * The HMAC key for API keys and admin tokens. Embedded mode keeps it in
 * <dataDir>/keys/server-secret (0600); scale-out deployments pass the same value to every
 * control plane and gateway as WARDEN_SERVER_SECRET (base64, ≥ 32 bytes).
 */
export function loadServerSecret(dataDir: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  const fromEnv = env.WARDEN_SERVER_SECRET;
  if (fromEnv) {
    const secret = Buffer.from(fromEnv, 'base64');
    if (secret.length < 32) throw new WardenError('WARDEN_CONFIG_INVALID', 'WARDEN_SERVER_SECRET must be at least 32 bytes, base64-encoded');
    return secret;
  }
  return readOrCreateSecretFile(join(dataDir, 'keys', 'server-secret'), () => randomBytes(32));
}

/** For remote PEPs: the secret must come from WARDEN_SERVER_SECRET or an existing file, never be invented. */
export function requireServerSecret(dataDir: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  if (env.WARDEN_SERVER_SECRET) return loadServerSecret(dataDir, env);
  const file = join(dataDir, 'keys', 'server-secret');
  if (!existsSync(file)) throw new WardenError('WARDEN_CONFIG_INVALID', 'set WARDEN_SERVER_SECRET (the control plane\'s, base64) so this gateway can verify API keys');
  return readFileSync(file);
}
