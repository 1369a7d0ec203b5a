import type { ByteReader } from '../io/ByteReader.js';
import type { ScanContext } from '../ScanContext.js';

const OVERLAP = 256;
const lambdaPattern = /"class_name"\s*:\s*"Lambda"/;
const modulePattern = /"module"\s*:\s*"(os|posix|nt|subprocess|builtins|sys|importlib|runpy|pty|socket|shutil|pickle|marshal|code|ctypes|webbrowser)(\.[\w.]*)?"/;

/**
 * Keras/TF HDF5 models keep their architecture as a JSON string in the root attribute
 * `model_config`. Parsing HDF5 needs a native library, so instead the bytes are searched, window
 * by window, for the JSON that declares a Lambda layer or an unsafe module; h5py stores the
 * string contiguously, and windows overlap so a match cannot straddle an edge unseen. Works on
 * streams too (an `.h5` inside a compressed archive is never buffered whole).
 */
export async function scanH5(r: ByteReader, ctx: ScanContext): Promise<void> {
  let lambdaAt = -1;
  let moduleHit: { at: number; text: string } | null = null;
  let tail = '';
  let tailStart = r.offset;
  while ((lambdaAt < 0 || !moduleHit) && (await r.ensure(1))) {
    const chunk = r.buf.toString('latin1', r.pos);
    r.pos = r.buf.length;
    const window = tail + chunk;
    // JSON may spell any character as \uXXXX ("Lambd\u0061"); json.loads decodes it, so the
    // search runs over the decoded text too (offsets are then approximate).
    const decoded = window.includes('\\u') ? window.replace(/\\u([0-9a-fA-F]{4})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))) : window;
    const l = lambdaAt < 0 ? (lambdaPattern.exec(window) ?? lambdaPattern.exec(decoded)) : null;
    if (l) lambdaAt = tailStart + Math.min(l.index, window.length - 1);
    const m: RegExpExecArray | null = moduleHit ? null : (modulePattern.exec(window) ?? modulePattern.exec(decoded));
    if (m) moduleHit = { at: tailStart + Math.min(m.index, window.length - 1), text: m[0] };
    const keep = Math.min(OVERLAP, window.length);
    tailStart += window.length - keep;
    tail = window.slice(window.length - keep);
  }
  if (lambdaAt >= 0) ctx.add('keras/lambda-layer', 'high', 'model_config declares a Lambda layer: its function is Python bytecode that runs when the model is loaded or called', lambdaAt);
  if (moduleHit) ctx.add('keras/unsafe-module', 'critical', `model_config resolves an object from ${moduleHit.text}`, moduleHit.at);
}
