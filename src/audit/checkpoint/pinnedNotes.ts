import { readFileSync } from 'node:fs';
import { WardenError } from '../../errors/index.js';

/** The note in one saved JSON object: `{ note }` (checkpoints.jsonl, GET /audit/checkpoint), verify's `checkpoint`, or a forwarded `audit.checkpoint` event. */
function noteOf(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as { note?: unknown; checkpoint?: { note?: unknown }; record?: { action?: unknown; details?: { note?: unknown } } };
  if (typeof v.note === 'string') return v.note;
  if (typeof v.checkpoint?.note === 'string') return v.checkpoint.note;
  if (v.record?.action === 'audit.checkpoint' && typeof v.record.details?.note === 'string') return v.record.details.note;
  return null;
}

/**
 * Signed checkpoint notes saved off the box, for `warden audit verify --checkpoint`: a raw note,
 * or JSON lines where any line may carry one (a SIEM's JSON-lines copy: entry lines are skipped).
 */
export function readPinnedNotes(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new WardenError('WARDEN_USAGE', `cannot read the checkpoint file ${path}`, { cause });
  }
  if (!text.trimStart().startsWith('{')) return [text.endsWith('\n') ? text : text + '\n'];
  try {
    // One (possibly pretty-printed) JSON document, such as saved `verify --format json` output.
    const note = noteOf(JSON.parse(text));
    if (note !== null) return [note];
  } catch {
    /* JSON lines */
  }
  const notes: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new WardenError('WARDEN_USAGE', `${path} is neither a signed note nor JSON lines`);
    }
    const note = noteOf(value);
    if (note !== null) notes.push(note);
  }
  if (notes.length === 0) throw new WardenError('WARDEN_USAGE', `${path} holds no signed checkpoint note`);
  return notes;
}
