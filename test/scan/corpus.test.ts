import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { atOrAbove, scanPaths, type ScanReport } from '../../src/scan/index.js';
import { hasCommand, requireOrSkip } from '../helpers/ci.js';
import { writeCorpus } from './helpers/corpus.js';
import { mutate, prng, scanWithDeadline } from './helpers/mutate.js';

const python = hasCommand('python3');

describe('scan corpus (real files written by python3 stdlib and TypeScript writers)', () => {
  let dir = '';
  let malicious: ScanReport;
  let benign: ScanReport;

  before(async () => {
    if (!python) return;
    dir = mkdtempSync(join(tmpdir(), 'warden-scan-corpus-'));
    const paths = writeCorpus(dir);
    malicious = await scanPaths([paths.malicious]);
    benign = await scanPaths([paths.benign]);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('detects every malicious variant (at least 40) as high or critical', (t) => {
    if (!requireOrSkip(t, python, 'python3')) return;
    assert.ok(malicious.files.length >= 40, `only ${malicious.files.length} malicious files`);
    const missed = malicious.files.filter((f) => !f.findings.some((x) => atOrAbove(x.severity, 'high')));
    assert.deepEqual(missed.map((f) => `${basename(f.path)}: ${JSON.stringify(f.findings)}`), []);
  });

  it('reports no finding above low on benign model files (at least 20)', (t) => {
    if (!requireOrSkip(t, python, 'python3')) return;
    assert.ok(benign.files.length >= 20, `only ${benign.files.length} benign files`);
    const noisy = benign.files.filter((f) => f.findings.some((x) => atOrAbove(x.severity, 'medium')));
    assert.deepEqual(noisy.map((f) => `${basename(f.path)}: ${JSON.stringify(f.findings)}`), []);
  });

  it('names the right rule and callable for each family', (t) => {
    if (!requireOrSkip(t, python, 'python3')) return;
    const byName = new Map(malicious.files.map((f) => [f.path.slice(dir.length + '/malicious/'.length), f]));
    const expect = (file: string, rule: string, text?: string): void => {
      const f = byName.get(file);
      assert.ok(f, `${file} was not scanned`);
      const hit = f.findings.find((x) => x.rule === rule && (text === undefined || x.message.includes(text)));
      assert.ok(hit, `${file}: expected ${rule}${text ? ` mentioning ${text}` : ''}, got ${JSON.stringify(f.findings)}`);
    };
    expect('stack_global_memo_binput.pkl', 'pickle/dangerous-global', 'STACK_GLOBAL imports os.system');
    expect('stack_global_memoize.pkl', 'pickle/dangerous-global', 'subprocess.getoutput');
    expect('stack_global_long_binput.pkl', 'pickle/dangerous-global', 'os.popen');
    expect('stack_global_protocol0_strings.pkl', 'pickle/dangerous-global', 'os.system');
    expect('inst_opcode.pkl', 'pickle/dangerous-global', 'INST imports os.system');
    expect('obj_opcode.pkl', 'pickle/dangerous-global', 'os.system');
    expect('newobj_popen.pkl', 'pickle/dangerous-global', 'subprocess.Popen');
    expect('ext2.pkl', 'pickle/extension-code', 'code 513');
    expect('build_on_global.pkl', 'pickle/build-on-global');
    expect('getattr_chain.pkl', 'pickle/dynamic-call');
    expect('stack_global_unresolved.pkl', 'pickle/unresolved-global');
    expect('second_pickle_payload.pkl', 'pickle/multiple-pickles');
    expect('payload_then_truncated.pkl', 'pickle/truncated');
    expect('payload_then_invalid_opcode.pkl', 'pickle/malformed', '0xff');
    expect('timeit_bypass.pkl', 'pickle/dangerous-global', 'timeit.timeit');
    expect('stdlib_gadget_doctest.pkl', 'pickle/dangerous-global', 'standard-library');
    expect('torch_zip_deflated.pt', 'pickle/dangerous-global', 'system');
    expect('zip_duplicate_data_pkl.pt', 'archive/duplicate-entry');
    expect('zip_path_traversal.zip', 'archive/path-traversal');
    expect('zip_bomb.zip', 'archive/zip-bomb');
    expect('npy_object_dtype.npy', 'numpy/object-dtype');
    expect('keras_lambda.keras', 'keras/lambda-layer');
    expect('keras_module_injection.keras', 'keras/unsafe-module', 'subprocess');
    expect('keras_lambda.h5', 'keras/lambda-layer');
    expect('onnx_traversal.onnx', 'onnx/external-data-traversal', '../../../../etc/passwd');
    expect('saved_model_pyfunc/saved_model.pb', 'tf/risky-op', 'PyFunc');
    expect('saved_model_readfile/saved_model.pb', 'tf/risky-op', 'WriteFile');
    expect('template_ssti.gguf', 'gguf/chat-template-code');
    expect('safetensors_header_too_long.safetensors', 'safetensors/invalid-header', 'exceeds');
    expect('joblib_inline_array_then_payload.joblib', 'pickle/dangerous-global', 'os.system');
    expect('joblib_object_array.joblib', 'pickle/dangerous-global', 'system');
    const nested = byName.get('nested_zip_twice.zip')!;
    assert.ok(nested.findings.some((x) => x.location.startsWith('level1.zip!models/inner.pt!archive/data.pkl@')), JSON.stringify(nested.findings));
  });

  it('detects formats from content, not from the extension', (t) => {
    if (!requireOrSkip(t, python, 'python3')) return;
    const fmt = (set: ScanReport, name: string): string | undefined => set.files.find((f) => f.path.endsWith('/' + name))?.format;
    assert.equal(fmt(malicious, 'disguised_as.safetensors'), 'pickle');
    assert.equal(fmt(malicious, 'torch_zip_custom_root.bin'), 'pytorch-zip');
    assert.equal(fmt(benign, 'legacy_torch.pt'), 'pytorch-legacy');
    assert.equal(fmt(malicious, 'legacy_torch_tar_evil.tar'), 'pytorch-legacy-tar');
    assert.equal(fmt(benign, 'arrays.npz'), 'npz');
    assert.equal(fmt(benign, 'model.keras'), 'keras');
    assert.equal(fmt(benign, 'model.onnx'), 'onnx');
    assert.equal(fmt(benign, 'saved_model.pb'), 'tf-savedmodel');
    assert.equal(fmt(benign, 'state_zlib.joblib'), 'zlib+pickle');
    assert.equal(fmt(benign, 'llama.gguf'), 'gguf');
    assert.equal(fmt(benign, 'legacy_torch.tar'), 'pytorch-legacy-tar');
    assert.equal(fmt(benign, 'joblib_inline_array.joblib'), 'pickle');
  });

  it('hashes every file with SHA-256', (t) => {
    if (!requireOrSkip(t, python, 'python3')) return;
    for (const f of [...malicious.files, ...benign.files]) assert.match(f.sha256 ?? '', /^[0-9a-f]{64}$/);
  });

  it('never throws or hangs on mutated copies of the corpus (fixed seed)', async (t) => {
    if (!requireOrSkip(t, python, 'python3')) return;
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const n of readdirSync(d).sort()) {
        const p = join(d, n);
        if (statSync(p).isDirectory()) walk(p);
        else if (statSync(p).size < 1 << 20) files.push(p);
      }
    };
    walk(dir);
    assert.ok(files.length >= 60);
    const rnd = prng(2026);
    for (const f of files) {
      const original = readFileSync(f);
      for (let i = 0; i < 6; i++) await scanWithDeadline(mutate(mutate(original, rnd), rnd), basename(f));
    }
  });
});
