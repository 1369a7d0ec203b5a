import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WardenError } from '../../errors/index.js';
import { readSecretFile, writeFileAtomic } from '../../crypto/index.js';
import { createNoteSigner, parseVerifierKey, type NoteSigner, type NoteVerifier } from './signedNote.js';

export function checkpointKeyPath(dataDir: string): string {
  return join(dataDir, 'keys', 'audit-checkpoint.key');
}

/** The verifier key (public) next to the private key; pin a copy elsewhere for real assurance. */
export function checkpointVerifierKeyPath(dataDir: string): string {
  return join(dataDir, 'keys', 'audit-checkpoint.vkey');
}

/**
 * Loads the Ed25519 checkpoint key (PKCS#8 PEM, 0600), creating it on first use, and
 * (re)writes the verifier key file so offline `warden audit verify` can find it.
 */
export function loadOrCreateCheckpointSigner(options: { dataDir: string; origin: string; keyPath?: string }): NoteSigner {
  const keyPath = options.keyPath ?? checkpointKeyPath(options.dataDir);
  if (!existsSync(keyPath)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileAtomic(keyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600);
  }
  let signer: NoteSigner;
  try {
    signer = createNoteSigner(options.origin, createPrivateKey(readSecretFile(keyPath)));
  } catch (cause) {
    if (cause instanceof WardenError) throw cause;
    throw new WardenError('WARDEN_AUDIT_KEY_INVALID', `cannot read the checkpoint key ${keyPath}`, { cause });
  }
  const vkeyPath = options.keyPath ? `${options.keyPath}.vkey` : checkpointVerifierKeyPath(options.dataDir);
  const current = existsSync(vkeyPath) ? readFileSync(vkeyPath, 'utf8').trim() : '';
  if (current !== signer.verifierKey) writeFileAtomic(vkeyPath, signer.verifierKey + '\n', 0o644);
  return signer;
}

/** Reads verifier keys: an explicit `<name>+<hash>+<key>` string, a file holding one per line, or the data dir's. */
export function readVerifierKeys(options: { dataDir: string; verifierKey?: string }): NoteVerifier[] {
  let source = options.verifierKey;
  if (source === undefined) {
    const path = checkpointVerifierKeyPath(options.dataDir);
    if (!existsSync(path)) throw new WardenError('WARDEN_AUDIT_KEY_INVALID', `no checkpoint verifier key at ${path} (pass --verifier-key)`);
    source = readFileSync(path, 'utf8');
  } else if (!/^[^\s+]+\+[0-9a-f]{8}\+/.test(source.trim()) && existsSync(source)) {
    source = readFileSync(source, 'utf8');
  }
  const lines = source.split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.length === 0) throw new WardenError('WARDEN_AUDIT_KEY_INVALID', 'the verifier key is empty');
  return lines.map(parseVerifierKey);
}
