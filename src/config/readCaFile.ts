import { readFileSync } from 'node:fs';
import { WardenError } from '../errors/index.js';

/**
 * Reads a PEM CA bundle named in the configuration; an unreadable file is WARDEN_CONFIG_INVALID
 * naming `setting` (where in warden.yaml the path came from), raised at startup.
 */
export function readCaFile(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new WardenError('WARDEN_CONFIG_INVALID', `${setting}: cannot read CA file ${path}`, { cause });
  }
}
