import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gguf, onnxModel, safetensors, savedModel } from './writers.js';

const llamaTemplate =
  "{% set ns = namespace(system='') %}{% for message in messages %}{% if message['role'] == 'system' %}{% set ns.system = message['content'] %}" +
  "{% else %}{{ bos_token + '[INST] ' + message['content'] + ' [/INST]' if message['role'] == 'user' else message['content'] + eos_token }}{% endif %}{% endfor %}";

/** Writes the full corpus (Python-made pickles/archives + TypeScript-made binary formats) under `dir`. */
export function writeCorpus(dir: string): { malicious: string; benign: string } {
  execFileSync('python3', [fileURLToPath(new URL('./make_corpus.py', import.meta.url)), dir], { stdio: 'inherit' });
  const mal = join(dir, 'malicious');
  const ben = join(dir, 'benign');
  mkdirSync(join(ben, 'saved_model_dir'), { recursive: true });
  mkdirSync(join(mal, 'saved_model_pyfunc'), { recursive: true });
  mkdirSync(join(mal, 'saved_model_readfile'), { recursive: true });
  const t = (name: string, dtype: string, shape: number[], width: number) => ({ name, dtype, shape, bytes: shape.reduce((a, d) => a * d, 1) * width });
  // benign
  writeFileSync(join(ben, 'model.safetensors'), safetensors([t('w', 'F32', [4, 4], 4), t('b', 'F32', [4], 4), t('ids', 'I64', [3], 8)], { metadata: { format: 'pt' } }));
  writeFileSync(join(ben, 'bf16.safetensors'), safetensors([t('emb', 'BF16', [8, 2], 2), t('scale', 'F16', [1], 2)]));
  writeFileSync(join(ben, 'empty.safetensors'), safetensors([]));
  writeFileSync(join(ben, 'llama.gguf'), gguf([
    ['general.architecture', { type: 'str', v: 'llama' }],
    ['general.alignment', { type: 'u32', v: 32 }],
    ['llama.rope.freq_base', { type: 'f32', v: 10000 }],
    ['tokenizer.ggml.tokens', { type: 'strs', v: ['<s>', '</s>', 'hello', 'world'] }],
    ['tokenizer.ggml.token_type', { type: 'i32s', v: [3, 3, 1, 1] }],
    ['tokenizer.chat_template', { type: 'str', v: llamaTemplate }],
  ], [{ name: 'tok_embd.weight', dims: [4, 8] }, { name: 'output_norm.weight', dims: [8] }]));
  writeFileSync(join(ben, 'v2.gguf'), gguf([['general.name', { type: 'str', v: 'tiny' }]], [{ name: 't', dims: [2] }], { version: 2 }));
  writeFileSync(join(ben, 'model.onnx'), onnxModel({ nodes: [{ op: 'MatMul' }, { op: 'Relu', domain: '' }, { op: 'Gelu', domain: 'com.microsoft' }], opsetDomains: ['', 'com.microsoft'] }));
  writeFileSync(join(ben, 'external.onnx'), onnxModel({ nodes: [{ op: 'Add' }], externalLocation: 'weights/external.bin' }));
  writeFileSync(join(ben, 'saved_model_dir', 'saved_model.pb'), savedModel(['Placeholder', 'MatMul', 'Const', 'SaveV2', 'RestoreV2', 'Identity'], ['Relu', 'BiasAdd']));
  // malicious
  writeFileSync(join(mal, 'template_ssti.gguf'), gguf([
    ['general.architecture', { type: 'str', v: 'llama' }],
    ['tokenizer.chat_template', { type: 'str', v: "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('id').read() }}" }],
  ], [{ name: 't', dims: [2] }]));
  writeFileSync(join(mal, 'huge_kv_count.gguf'), gguf([['a', { type: 'u32', v: 1 }]], [], { kvCountOverride: 1n << 40n }));
  writeFileSync(join(mal, 'onnx_traversal.onnx'), onnxModel({ nodes: [{ op: 'Add' }], externalLocation: '../../../../etc/passwd' }));
  writeFileSync(join(mal, 'onnx_absolute.onnx'), onnxModel({ nodes: [{ op: 'Add' }], externalLocation: '/etc/shadow' }));
  writeFileSync(join(mal, 'saved_model_pyfunc', 'saved_model.pb'), savedModel(['Placeholder', 'MatMul'], ['PyFunc']));
  writeFileSync(join(mal, 'saved_model_readfile', 'saved_model.pb'), savedModel(['Const', 'ReadFile', 'WriteFile']));
  writeFileSync(join(mal, 'safetensors_header_too_long.safetensors'), (() => {
    const b = safetensors([t('w', 'F32', [2], 4)]);
    b.writeBigUInt64LE(1n << 40n, 0);
    return b;
  })());
  writeFileSync(join(mal, 'safetensors_overlap.safetensors'), safetensors([t('a', 'F32', [4], 4), t('b', 'F32', [4], 4)], { mutate: (h) => { (h.b as { data_offsets: number[] }).data_offsets = [8, 24]; } }));
  writeFileSync(join(mal, 'safetensors_out_of_range.safetensors'), safetensors([t('a', 'F32', [4], 4)], { mutate: (h) => { (h.a as { data_offsets: number[] }).data_offsets = [1_000_000, 1_000_016]; } }));
  return { malicious: mal, benign: ben };
}
