export {
  createNoteSigner,
  parseVerifierKey,
  signNote,
  openNote,
  ed25519PrivateKeyFromSeed,
  type NoteSigner,
  type NoteVerifier,
  type NoteSignature,
  type OpenedNote,
} from './signedNote.js';
export { formatCheckpoint, parseCheckpoint, signCheckpoint, openCheckpoint, type Checkpoint, type SignedCheckpoint } from './checkpoint.js';
export { loadOrCreateCheckpointSigner, readVerifierKeys, checkpointKeyPath, checkpointVerifierKeyPath } from './checkpointKey.js';
export { readPinnedNotes } from './pinnedNotes.js';
