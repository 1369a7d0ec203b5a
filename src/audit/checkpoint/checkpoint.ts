import { WardenError } from '../../errors/index.js';
import { HASH_SIZE } from '../merkle/index.js';
import { openNote, signNote, type NoteSigner, type NoteVerifier } from './signedNote.js';

/** The body of a C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint). */
export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Buffer;
}

/** A checkpoint together with the signed note it came from. */
export interface SignedCheckpoint extends Checkpoint {
  note: string;
}

export function formatCheckpoint(cp: Checkpoint): string {
  if (!cp.origin || /[\n]/.test(cp.origin)) throw new WardenError('WARDEN_AUDIT_NOTE_INVALID', 'checkpoint origin must be one non-empty line');
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) throw new WardenError('WARDEN_AUDIT_NOTE_INVALID', 'checkpoint size must be a non-negative integer');
  if (cp.rootHash.length !== HASH_SIZE) throw new WardenError('WARDEN_AUDIT_NOTE_INVALID', 'checkpoint root hash must be 32 bytes');
  return `${cp.origin}\n${cp.size}\n${cp.rootHash.toString('base64')}\n`;
}

/** Parses checkpoint text (origin, decimal size, base64 root, optional extension lines). */
export function parseCheckpoint(text: string): Checkpoint {
  const lines = text.split('\n');
  if (lines.length < 4 || lines[lines.length - 1] !== '') throw new WardenError('WARDEN_AUDIT_CHECKPOINT_INVALID', 'checkpoint needs origin, size and root hash lines');
  const [origin, sizeLine, rootLine] = lines as [string, string, string];
  if (!origin) throw new WardenError('WARDEN_AUDIT_CHECKPOINT_INVALID', 'checkpoint origin is empty');
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeLine)) throw new WardenError('WARDEN_AUDIT_CHECKPOINT_INVALID', 'checkpoint size is not a decimal number');
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw new WardenError('WARDEN_AUDIT_CHECKPOINT_INVALID', 'checkpoint size is too large');
  const rootHash = Buffer.from(rootLine, 'base64');
  if (rootHash.length !== HASH_SIZE || rootHash.toString('base64') !== rootLine) {
    throw new WardenError('WARDEN_AUDIT_CHECKPOINT_INVALID', 'checkpoint root hash is not 32 bytes of base64');
  }
  return { origin, size, rootHash };
}

export function signCheckpoint(cp: Checkpoint, signer: NoteSigner): SignedCheckpoint {
  return { ...cp, rootHash: Buffer.from(cp.rootHash), note: signNote(formatCheckpoint(cp), signer) };
}

/** Verifies the note signature and the origin; returns the parsed checkpoint. */
export function openCheckpoint(note: string, verifiers: readonly NoteVerifier[], expectedOrigin?: string): SignedCheckpoint {
  const { text } = openNote(note, verifiers);
  const cp = parseCheckpoint(text);
  if (expectedOrigin !== undefined && cp.origin !== expectedOrigin) {
    throw new WardenError('WARDEN_AUDIT_CHECKPOINT_INVALID', `checkpoint origin ${JSON.stringify(cp.origin)} is not ${JSON.stringify(expectedOrigin)}`);
  }
  return { ...cp, note };
}
