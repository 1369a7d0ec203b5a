import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { LoadedConfig } from '../../config/index.js';
import { WardenError } from '../../errors/index.js';
import { AttestationVerifier, readWardenSigningPublicKey } from '../attestation/index.js';

/**
 * The offline verifier of `warden artifact verify`: trusts the local Warden signing key, the
 * configured and given public keys and CAs, and `<data-dir>/bundle.pem` (the identity trust bundle).
 * Offline it cannot see the live revocation list; configured revoked key ids still apply.
 */
export function createLocalVerifier(config: LoadedConfig, extra: { publicKeyFiles?: string[]; caFiles?: string[] } = {}): AttestationVerifier {
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch (cause) {
      throw new WardenError('WARDEN_IO', `cannot read ${f}`, { cause });
    }
  };
  const keys: (string | KeyObject)[] = [...config.artifacts.trust.publicKeyFiles, ...(extra.publicKeyFiles ?? [])].map(read);
  const own = readWardenSigningPublicKey(config.dataDir);
  if (own) keys.push(own);
  const cas = [...config.artifacts.trust.caFiles, ...(extra.caFiles ?? [])].map(read);
  const bundle = join(config.dataDir, 'bundle.pem');
  if (existsSync(bundle)) cas.push(readFileSync(bundle, 'utf8'));
  const revoked = new Set(config.artifacts.trust.revokedKeyIds);
  return new AttestationVerifier({ publicKeys: keys, caCertificates: cas, allowedSpiffeIds: config.artifacts.trust.allowedSpiffeIds, isRevoked: ({ keyId }) => keyId !== undefined && revoked.has(keyId) });
}
