import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { WardenError } from '../../errors/index.js';

/**
 * C2SP signed-note (https://c2sp.org/signed-note) with Ed25519 keys, the format of Go's
 * sumdb and of transparency-log checkpoints. Hand-written because no maintained npm
 * package implements it; it is ~100 lines over node:crypto and tested against the
 * spec's published example key and note.
 */

const ALG_ED25519 = 0x01;
const MAX_NOTE_BYTES = 1 << 20;
const MAX_SIGNATURES = 100;
const NAME_PATTERN = /^[^\s+]+$/u;
const SIGNATURE_PREFIX = '\u2014 ';
// DER prefixes that wrap a raw 32-byte Ed25519 seed / public key as PKCS#8 / SPKI.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface NoteSigner {
  readonly name: string;
  readonly keyHash: number;
  /** `<name>+<hash hex>+<base64(0x01 ‖ public key)>`: give it to verifiers out of band. */
  readonly verifierKey: string;
  sign(message: Uint8Array): Buffer;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyHash: number;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

export interface NoteSignature {
  name: string;
  keyHash: number;
  /** base64(key hash ‖ signature) as it appears on the line. */
  base64: string;
}

export interface OpenedNote {
  text: string;
  /** Signatures that verified with a known key. */
  verified: NoteSignature[];
}

function keyHashOf(name: string, publicKey: Uint8Array): number {
  const h = createHash('sha256').update(name).update('\n').update(Buffer.from([ALG_ED25519])).update(publicKey).digest();
  return h.readUInt32BE(0);
}

function checkName(name: string): void {
  if (!name || !NAME_PATTERN.test(name)) throw new WardenError('WARDEN_AUDIT_NOTE_INVALID', 'a note key name must be non-empty without spaces or +');
}

function rawPublicKey(key: KeyObject): Buffer {
  const spki = key.export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(spki.length - 32));
}

export function ed25519PrivateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new WardenError('WARDEN_AUDIT_KEY_INVALID', 'an Ed25519 seed is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** A signer for the note key `name` over an Ed25519 private key. */
export function createNoteSigner(name: string, privateKey: KeyObject): NoteSigner {
  checkName(name);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new WardenError('WARDEN_AUDIT_KEY_INVALID', 'checkpoint keys must be Ed25519');
  const pub = rawPublicKey(createPublicKey(privateKey));
  const keyHash = keyHashOf(name, pub);
  return {
    name,
    keyHash,
    verifierKey: `${name}+${keyHash.toString(16).padStart(8, '0')}+${Buffer.concat([Buffer.from([ALG_ED25519]), pub]).toString('base64')}`,
    sign: (message) => sign(null, message, privateKey),
  };
}

/** Parses a verifier key string `<name>+<hash>+<base64(alg ‖ key)>`. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const m = /^([^\s+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)$/.exec(vkey.trim());
  if (!m) throw new WardenError('WARDEN_AUDIT_NOTE_INVALID', 'verifier key must look like <name>+<8 hex>+<base64>');
  const name = m[1]!;
  const keyHash = Number.parseInt(m[2]!, 16);
  const raw = Buffer.from(m[3]!, 'base64');
  if (raw.length !== 33 || raw[0] !== ALG_ED25519) throw new WardenError('WARDEN_AUDIT_NOTE_INVALID', 'verifier key is not an Ed25519 key');
  const pub = raw.subarray(1);
  if (keyHashOf(name, pub) !== keyHash) throw new WardenError('WARDEN_AUDIT_NOTE_INVALID', 'verifier key hash does not match its name and key');
  const publicKey = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, pub]), format: 'der', type: 'spki' });
  return {
    name,
    keyHash,
    verify: (message, signature) => {
      try {
        return signature.length === 64 && verify(null, message, publicKey, signature);
      } catch {
        return false;
      }
    },
  };
}

/** Signs `text` (must end in a newline): returns text, a blank line and one signature line. */
export function signNote(text: string, signer: NoteSigner): string {
  if (!text.endsWith('\n')) throw new WardenError('WARDEN_AUDIT_NOTE_INVALID', 'note text must end with a newline');
  const sig = signer.sign(Buffer.from(text, 'utf8'));
  const hash = Buffer.alloc(4);
  hash.writeUInt32BE(signer.keyHash >>> 0);
  return `${text}\n${SIGNATURE_PREFIX}${signer.name} ${Buffer.concat([hash, sig]).toString('base64')}\n`;
}

/**
 * Splits and verifies a signed note. Throws WARDEN_AUDIT_NOTE_INVALID when it is malformed,
 * and WARDEN_AUDIT_CHECKPOINT_INVALID when no signature from a known key verifies (a
 * signature claiming a known key that fails is an error, not something to skip).
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): OpenedNote {
  if (Buffer.byteLength(note) > MAX_NOTE_BYTES) throw new WardenError('WARDEN_AUDIT_NOTE_INVALID', 'note is too large');
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw new WardenError('WARDEN_AUDIT_NOTE_INVALID', 'note has no signature block');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new WardenError('WARDEN_AUDIT_NOTE_INVALID', 'note has too many signatures');
  const verified: NoteSignature[] = [];
  const message = Buffer.from(text, 'utf8');
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new WardenError('WARDEN_AUDIT_NOTE_INVALID', 'malformed signature line');
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = rest.slice(0, space);
    const b64 = rest.slice(space + 1);
    if (space <= 0 || !/^[A-Za-z0-9+/]+=*$/.test(b64)) throw new WardenError('WARDEN_AUDIT_NOTE_INVALID', 'malformed signature line');
    const raw = Buffer.from(b64, 'base64');
    if (raw.length < 5) throw new WardenError('WARDEN_AUDIT_NOTE_INVALID', 'signature is too short');
    const keyHash = raw.readUInt32BE(0);
    const v = verifiers.find((x) => x.name === name && x.keyHash === keyHash);
    if (!v) continue; // signatures from keys we do not know are allowed by the spec and ignored
    if (!v.verify(message, raw.subarray(4))) {
      throw new WardenError('WARDEN_AUDIT_CHECKPOINT_INVALID', `signature by ${name} does not verify`);
    }
    verified.push({ name, keyHash, base64: b64 });
  }
  if (verified.length === 0) throw new WardenError('WARDEN_AUDIT_CHECKPOINT_INVALID', 'note has no signature from a known key');
  return { text, verified };
}
