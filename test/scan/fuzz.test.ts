import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { tarArchive, zipArchive } from './helpers/archives.js';
import { P, scanBytes } from './helpers/scanBytes.js';
import { gguf, onnxModel, safetensors, savedModel } from './helpers/writers.js';
import { mutate, prng, scanWithDeadline } from './helpers/mutate.js';

const evil = P.cat(P.proto(2), P.global('os', 'system'), P.binunicode('id'), P.op(0x85, 'R', '.'));
const state = P.cat(P.proto(4), P.op('}', '('), P.su('a'), P.op('K', 1), P.su('b'), P.op(']', 'K', 2, 'a', 'u', '.'));
const seeds: [string, Buffer][] = [
  ['p.pkl', evil],
  ['s.pkl', state],
  ['p0.pkl', Buffer.from("(dp0\nS'a'\np1\nI1\nsS'b'\np2\n(lp3\nF1.5\naVx\np4\nas.", 'latin1')],
  ['m.pt', zipArchive([{ name: 'archive/data.pkl', data: state, deflate: true }, { name: 'archive/data/0', data: Buffer.alloc(32) }, { name: 'archive/version', data: Buffer.from('3\n') }])],
  ['n.zip', zipArchive([{ name: 'inner.zip', data: zipArchive([{ name: 'x.pkl', data: evil }]) }])],
  ['m.safetensors', safetensors([{ name: 'w', dtype: 'F32', shape: [2, 2], bytes: 16 }, { name: 'b', dtype: 'I64', shape: [2], bytes: 16 }], { metadata: { a: 'b' } })],
  ['m.gguf', gguf([['general.name', { type: 'str', v: 'x' }], ['tokenizer.ggml.tokens', { type: 'strs', v: ['a', 'bb', 'ccc'] }], ['tokenizer.chat_template', { type: 'str', v: '{{ messages }}' }]], [{ name: 't', dims: [4, 2] }])],
  ['m.onnx', onnxModel({ nodes: [{ op: 'Add' }, { op: 'X', domain: 'custom' }], externalLocation: 'w.bin' })],
  ['saved_model.pb', savedModel(['Const', 'MatMul'], ['ReadFile'])],
  ['a.npy', Buffer.concat([Buffer.from("\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }" + ' '.repeat(52) + '\n', 'latin1'), evil])],
  ['t.tar', tarArchive([{ name: 'a.pkl', data: evil }, { name: 'b.safetensors', data: safetensors([{ name: 'w', dtype: 'F32', shape: [1], bytes: 4 }]) }])],
  ['g.pkl.gz', gzipSync(evil)],
  ['c.json', Buffer.from(JSON.stringify({ class_name: 'Sequential', config: { layers: [{ class_name: 'Lambda', module: 'keras.layers' }] } }))],
];

describe('scanner fuzz (fixed seed)', () => {
  it('never throws or hangs on mutated model files', async () => {
    const rnd = prng(0x5eed);
    let cases = 0;
    for (let round = 0; round < 250; round++) {
      for (const [name, seed] of seeds) {
        let input = seed;
        const steps = 1 + Math.floor(rnd() * 3);
        for (let s = 0; s < steps; s++) input = mutate(input, rnd);
        try {
          await scanWithDeadline(input, name);
        } catch (err) {
          assert.fail(`round ${round} ${name} (${input.length} bytes, hex prefix ${input.subarray(0, 48).toString('hex')}): ${(err as Error).stack}`);
        }
        cases++;
      }
    }
    assert.equal(cases, 250 * seeds.length);
  });

  it('never throws or hangs on random bytes behind any magic', async () => {
    const rnd = prng(42);
    const magics = ['', 'PK\x03\x04', '\x93NUMPY\x01\x00', 'GGUF\x03\x00\x00\x00', '\x80\x04\x95', '\x1f\x8b\x08\x00', '\x89HDF\r\n\x1a\n', '\x08\x07\x12', 'x\x9c'];
    for (let i = 0; i < 1000; i++) {
      const body = Buffer.alloc(Math.floor(rnd() * 2048));
      for (let j = 0; j < body.length; j++) body[j] = Math.floor(rnd() * 256);
      const input = Buffer.concat([Buffer.from(magics[i % magics.length]!, 'latin1'), body]);
      await scanWithDeadline(input, i % 2 ? 'model.pkl' : 'model.bin');
    }
  });
});
