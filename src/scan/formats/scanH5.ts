import type { RandomSource } from '../io/RandomSource.js';
import type { ScanContext } from '../ScanContext.js';

const CHUNK = 1 << 20;
const OVERLAP = 256;
const lambdaPattern = /"class_name"\s*:\s*"Lambda"/;
const modulePattern = /"module"\s*:\s*"(os|posix|nt|subprocess|builtins|sys|importlib|runpy|pty|socket|shutil|pickle|marshal|code|ctypes|webbrowser)(\.[\w.]*)?"/;

/**
 * Keras/TF HDF5 models keep their architecture as a JSON string in the root attribute
 * `model_config`. Parsing HDF5 needs a native library, so instead the file is searched, in
 * windows, for the JSON that declares a Lambda layer or an unsafe module; the attribute is
 * stored contiguously, so the pattern cannot be split except at a window edge (hence overlap).
 */
export async function scanH5(src: RandomSource, ctx: ScanContext): Promise<void> {
  let lambdaAt = -1;
  let moduleHit: { at: number; text: string } | null = null;
  for (let pos = 0; pos < src.size && (lambdaAt < 0 || !moduleHit); pos += CHUNK) {
    const window = (await src.read(Math.max(0, pos - OVERLAP), CHUNK + OVERLAP)).toString('latin1');
    const base = Math.max(0, pos - OVERLAP);
    const l = lambdaPattern.exec(window);
    if (l && lambdaAt < 0) lambdaAt = base + l.index;
    const m = modulePattern.exec(window);
    if (m && !moduleHit) moduleHit = { at: base + m.index, text: m[0] };
  }
  if (lambdaAt >= 0) ctx.add('keras/lambda-layer', 'high', 'model_config declares a Lambda layer: its function is Python bytecode that runs when the model is loaded or called', lambdaAt);
  if (moduleHit) ctx.add('keras/unsafe-module', 'critical', `model_config resolves an object from ${moduleHit.text}`, moduleHit.at);
}
