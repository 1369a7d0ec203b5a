// Request validation micro-benchmark: the hand-written validators (src/gateway/validate) against
// an equivalent zod 4 schema and against JSON.parse of the same body (the baseline: what the
// gateway already pays per request). Bounded in time: ~1 s per row after warm-up.
import { z } from 'zod';
import { RequestValidator } from '../src/gateway/validate/index.js';

const durationMs = Number(process.env.BENCH_DURATION_MS ?? 1000);

const chat = {
  model: 'gpt-4o',
  messages: [
    { role: 'system', content: 'You are a helpful assistant. Answer briefly.' },
    { role: 'user', content: [{ type: 'text', text: 'Describe this picture in one sentence.' }, { type: 'image_url', image_url: { url: 'https://example.test/cat.png', detail: 'low' } }] },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"cat"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '{"species":"cat"}' },
    { role: 'user', content: 'And what colour is it?' },
  ],
  tools: [{ type: 'function', function: { name: 'lookup', description: 'Looks things up', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }],
  temperature: 0.2,
  max_tokens: 256,
  stream: true,
  stream_options: { include_usage: true },
};
const oip = { inputs: [{ name: 'input-0', shape: [8, 4], datatype: 'FP32', data: Array.from({ length: 32 }, (_, i) => i / 7) }] };

// The same rules in zod (loose objects: unknown fields pass, as in the hand-written version).
const text = z.string().max(1_048_576);
const part = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text'), text }),
  z.looseObject({ type: z.literal('image_url'), image_url: z.looseObject({ url: text.min(1), detail: z.enum(['auto', 'low', 'high']).nullish() }) }),
]);
const toolCall = z.looseObject({ id: z.string(), type: z.literal('function'), function: z.looseObject({ name: z.string().min(1), arguments: text }) });
const message = z.discriminatedUnion('role', [
  z.looseObject({ role: z.enum(['system', 'developer']), content: z.union([text, z.array(z.looseObject({ type: z.literal('text'), text }))]), name: z.string().nullish() }),
  z.looseObject({ role: z.literal('user'), content: z.union([text, z.array(part)]), name: z.string().nullish() }),
  z.looseObject({ role: z.literal('assistant'), content: z.union([text, z.array(part)]).nullish(), tool_calls: z.array(toolCall).max(128).nullish() }),
  z.looseObject({ role: z.literal('tool'), content: z.union([text, z.array(part)]), tool_call_id: z.string().min(1) }),
]);
const chatSchema = z.looseObject({
  model: z.string().min(1).max(128),
  messages: z.array(message).min(1).max(1024),
  tools: z.array(z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string().min(1), description: z.string().nullish(), parameters: z.record(z.string(), z.unknown()).nullish() }) })).max(128).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  max_tokens: z.int().min(1).max(131_072).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
});
const oipSchema = z.looseObject({
  inputs: z
    .array(z.looseObject({ name: z.string().min(1), shape: z.array(z.int().min(0)), datatype: z.enum(['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES']), data: z.array(z.number()) }))
    .min(1)
    .max(64)
    .refine((inputs) => inputs.every((i) => i.data.length === i.shape.reduce((a, b) => a * b, 1)), 'data length must match shape'),
});

function measure(fn: () => void): { opsPerSec: number; nsPerOp: number } {
  const end = Date.now() + 200;
  while (Date.now() < end) for (let i = 0; i < 100; i++) fn(); // warm-up
  let ops = 0;
  const start = process.hrtime.bigint();
  const stop = Date.now() + durationMs;
  while (Date.now() < stop) {
    for (let i = 0; i < 1000; i++) fn();
    ops += 1000;
  }
  const ns = Number(process.hrtime.bigint() - start);
  return { opsPerSec: (ops / ns) * 1e9, nsPerOp: ns / ops };
}

const validator = new RequestValidator();
const chatText = JSON.stringify(chat);
const oipText = JSON.stringify(oip);
// Check that both agree on validity before timing them.
validator.validate('openai.chat', chat);
chatSchema.parse(chat);
validator.validate('oip.infer', oip);
oipSchema.parse(oip);

const rows: { name: string; r: { opsPerSec: number; nsPerOp: number } }[] = [];
let sink = 0;
rows.push({ name: 'chat: JSON.parse of the body (baseline)', r: measure(() => (sink += (JSON.parse(chatText) as { messages: unknown[] }).messages.length)) });
rows.push({ name: 'chat: hand-written validator', r: measure(() => validator.validate('openai.chat', chat)) });
rows.push({ name: 'chat: zod 4 schema (same rules, subset)', r: measure(() => void chatSchema.parse(chat)) });
rows.push({ name: 'oip 8x4 FP32: JSON.parse of the body (baseline)', r: measure(() => (sink += (JSON.parse(oipText) as { inputs: unknown[] }).inputs.length)) });
rows.push({ name: 'oip 8x4 FP32: hand-written validator', r: measure(() => validator.validate('oip.infer', oip)) });
rows.push({ name: 'oip 8x4 FP32: zod 4 schema', r: measure(() => void oipSchema.parse(oip)) });

console.log(`validate micro-benchmark (${new Date().toISOString()}, node ${process.version}, ${durationMs} ms per row)`);
console.log('| case | ops/s | ns/op | × baseline time |');
console.log('|---|---:|---:|---:|');
for (let i = 0; i < rows.length; i++) {
  const { name, r } = rows[i]!;
  const base = rows[i < 3 ? 0 : 3]!.r;
  console.log(`| ${name} | ${Math.round(r.opsPerSec).toLocaleString('en-US')} | ${r.nsPerOp.toFixed(0)} | ${(r.nsPerOp / base.nsPerOp).toFixed(2)} |`);
}
if (sink === -1) console.log(sink);
