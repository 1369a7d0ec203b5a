import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WardenError } from '../errors/index.js';

/**
 * Names of the CA's files under <dataDir>/ca/. authority.json is the single commit point: every
 * certificate or key it may name is written under a name of its own first, so a crash before
 * authority.json is renamed leaves the previous, consistent state in force.
 */
export const CA_STATE_FILE = 'authority.json';

/** The generations and intermediate numbers authority.json references (the parts file naming needs). */
export interface CaStateReferences {
  generations: { id: string; intermediate: number }[];
}

export function rootCertName(gen: string): string {
  return `${gen}-root.pem`;
}

export function intermediateCertName(gen: string, no: number): string {
  return `${gen}-intermediate-${no}.pem`;
}

/** Before intermediates were numbered, renewal overwrote this one file per generation. */
export function legacyIntermediateCertName(gen: string): string {
  return `${gen}-intermediate.pem`;
}

export function rootKeyName(gen: string): string {
  return `${gen}-root`;
}

export function intermediateKeyName(gen: string, no: number): string {
  return `${gen}-intermediate-${no}`;
}

/** The file holding intermediate `no`: the numbered one, else (a data dir from before numbering) the legacy one. */
export function intermediateCertPath(caDir: string, gen: string, no: number): string {
  const numbered = join(caDir, intermediateCertName(gen, no));
  if (existsSync(numbered)) return numbered;
  const legacy = join(caDir, legacyIntermediateCertName(gen));
  return existsSync(legacy) ? legacy : numbered;
}

/** Reads the references in <caDir>/authority.json; null when there is none yet. */
export function readCaStateReferences(caDir: string): CaStateReferences | null {
  const path = join(caDir, CA_STATE_FILE);
  if (!existsSync(path)) return null;
  let state: unknown;
  try {
    state = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new WardenError('WARDEN_IDENTITY_CA_STATE_INVALID', `cannot read ${path}`, { cause });
  }
  const gens = (state as { generations?: unknown } | null)?.generations;
  const valid =
    Array.isArray(gens) &&
    gens.every((g: { id?: unknown; intermediate?: unknown } | null) => typeof g?.id === 'string' && /^[a-z0-9]+$/.test(g.id) && Number.isInteger(g.intermediate) && (g.intermediate as number) >= 1);
  if (!valid) throw new WardenError('WARDEN_IDENTITY_CA_STATE_INVALID', `${path} does not list CA generations`);
  return { generations: (gens as { id: string; intermediate: number }[]).map((g) => ({ id: g.id, intermediate: g.intermediate })) };
}

/** The intermediate certificates of every generation authority.json references (for a CAfile with intermediates). */
export function referencedIntermediatePaths(dataDir: string): string[] {
  const caDir = join(dataDir, 'ca');
  const state = readCaStateReferences(caDir);
  return (state?.generations ?? []).map((g) => intermediateCertPath(caDir, g.id, g.intermediate)).filter((p) => existsSync(p));
}
