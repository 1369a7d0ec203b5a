import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createManifest } from '../artifacts/index.js';
import { WardenError } from '../errors/index.js';
import { irisModelFromParams, type IrisModel, type IrisParams } from './irisClassifier.js';

/** The one file of a saved iris model directory. */
export const IRIS_MODEL_FILE = 'model.json';

/** Writes a model directory (`model.json`) that `loadIrisModel` and `warden artifact add` read. */
export function saveIrisModel(dir: string, params: IrisParams): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, IRIS_MODEL_FILE), JSON.stringify(params, null, 2) + '\n');
}

function isNumbers(v: unknown, n?: number): v is number[] {
  return Array.isArray(v) && (n === undefined || v.length === n) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

function parseParams(bytes: Buffer, path: string): IrisParams {
  let p: Partial<IrisParams>;
  try {
    p = JSON.parse(bytes.toString('utf8')) as Partial<IrisParams>;
  } catch (cause) {
    throw new WardenError('WARDEN_INPUT_INVALID', `${path} is not JSON`, { cause });
  }
  const d = Array.isArray(p.featureNames) ? p.featureNames.length : 0;
  const k = Array.isArray(p.classes) ? p.classes.length : 0;
  if (d === 0 || k === 0 || !isNumbers(p.mean, d) || !isNumbers(p.std, d) || !isNumbers(p.bias, k) || !Array.isArray(p.weights) || p.weights.length !== k || !p.weights.every((w) => isNumbers(w, d))) {
    throw new WardenError('WARDEN_INPUT_INVALID', `${path} is not an iris model (classes, featureNames, mean, std, weights, bias)`);
  }
  return p as IrisParams;
}

/**
 * Loads a model directory and the manifest root digest of exactly the bytes it loaded (what
 * `warden artifact hash` prints): the model server reports it so the gateway can check that
 * what serves is the registry's pinned version. The file is hashed, read, and its SHA-256
 * compared with the manifest's, so a file changed between the two is refused, not misreported.
 */
export async function loadIrisModel(dir: string): Promise<{ model: IrisModel; digest: string }> {
  const manifest = await createManifest(dir, { kind: 'model' });
  const path = join(dir, IRIS_MODEL_FILE);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new WardenError('WARDEN_IO', `cannot read ${path}`, { cause });
  }
  const listed = manifest.subject.find((s) => s.name === IRIS_MODEL_FILE);
  if (!listed) throw new WardenError('WARDEN_INPUT_INVALID', `${dir} has no ${IRIS_MODEL_FILE}`);
  if (listed.digest.sha256 !== createHash('sha256').update(bytes).digest('hex')) throw new WardenError('WARDEN_CONFLICT', `${path} changed while it was loaded`);
  return { model: irisModelFromParams(parseParams(bytes, path)), digest: manifest.predicate.warden.rootDigest };
}
