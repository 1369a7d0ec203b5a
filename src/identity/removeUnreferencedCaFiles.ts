import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, removeStaleTempFiles } from '../crypto/index.js';
import type { KeyProvider } from './KeyProvider.js';
import { readCaStateReferences, intermediateCertName } from './caFileNames.js';

const CERT_FILE = /^(g[0-9a-z]+)-(root|intermediate)(?:-([1-9][0-9]*))?\.pem$/;
const KEY_NAME = /^(g[0-9a-z]+)-(?:root|intermediate-([1-9][0-9]*)|jwt-[a-z0-9]+)$/;

/**
 * Removes what no committed state can use: writeFileAtomic temp files, and the certificates and
 * keys of generations and intermediates authority.json does not name (a crash before its commit,
 * a superseded intermediate, an expired generation). Call only once authority.json has been read
 * or written successfully; anything it names, retired roots included, stays. Files of other
 * shapes are never touched. Returns the removed names (relative to `caDir`) for logs and tests.
 */
export function removeUnreferencedCaFiles(caDir: string, keys: KeyProvider): string[] {
  const state = readCaStateReferences(caDir);
  if (!state) return [];
  const referenced = new Map(state.generations.map((g) => [g.id, g.intermediate]));
  const removed = removeStaleTempFiles(caDir);
  let removedCert = false;
  for (const name of readdirSync(caDir)) {
    const m = CERT_FILE.exec(name);
    if (!m) continue;
    const [, gen, what, no] = m;
    const current = referenced.get(gen!);
    let keep = false;
    if (current !== undefined) {
      if (what === 'root') keep = no === undefined;
      else if (no !== undefined) keep = Number(no) === current;
      // The un-numbered file of an older data dir is what loads until a numbered one exists.
      else keep = !existsSync(join(caDir, intermediateCertName(gen!, current)));
    }
    if (keep) continue;
    try {
      rmSync(join(caDir, name), { force: true });
      removed.push(name);
      removedCert = true;
    } catch {
      /* retried on the next start */
    }
  }
  if (removedCert) {
    try {
      fsyncDir(caDir);
    } catch {
      /* the removal is redone on the next start */
    }
  }
  if (!keys.names || !keys.remove) return removed;
  for (const name of keys.names()) {
    const m = KEY_NAME.exec(name);
    if (!m) continue;
    const current = referenced.get(m[1]!);
    if (current !== undefined && (m[2] === undefined || Number(m[2]) === current)) continue;
    try {
      keys.remove(name);
      removed.push(`key ${name}`);
    } catch {
      /* retried on the next start */
    }
  }
  return removed;
}
