import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { RequestValidator } from '../../../src/gateway/validate/index.js';
import type { RouteKind } from '../../../src/gateway/protocols/routes.js';
import { isRequestModelName } from '../../../src/gateway/modelName.js';

const v = new RequestValidator({ maxMessages: 8, maxTokensCeiling: 4096, maxStringLength: 1000, maxInputElements: 100, maxInputs: 4 });

function rejects(kind: RouteKind, body: Record<string, unknown>, message: string | RegExp): void {
  assert.throws(() => v.validate(kind, body), (e: { code: string; status: number; message: string }) => {
    assert.equal(e.code, 'WARDEN_GATEWAY_INVALID_REQUEST');
    assert.equal(e.status, 400);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

// A local HTTP server that records what the official OpenAI SDK sends.
let server: Server;
const captured: { path: string; body: Record<string, unknown> }[] = [];
let client: OpenAI;
before(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c));
    req.on('end', () => {
      captured.push({ path: req.url ?? '', body: JSON.parse(raw) as Record<string, unknown> });
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url?.endsWith('/embeddings')) res.end(JSON.stringify({ object: 'list', data: [], model: 'm', usage: { prompt_tokens: 1, total_tokens: 1 } }));
      else res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'm', choices: [] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  client = new OpenAI({ apiKey: 'test-key', baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, maxRetries: 0 });
});
after(() => new Promise<void>((r) => server.close(() => r())));

test('accepts what the official openai SDK sends (tools, response_format, stream_options, content parts, tool turns)', async () => {
  captured.length = 0;
  await client.chat.completions.create({
    model: 'gpt-4o',
    messages: [
      { role: 'developer', content: 'Be terse.' },
      { role: 'system', content: [{ type: 'text', text: 'You are helpful.' }] },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in this image and audio?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } },
          { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
          { type: 'file', file: { file_id: 'file-abc', filename: 'a.pdf' } },
        ],
        name: 'alice',
      },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"result":1}' },
      { role: 'assistant', content: [{ type: 'text', text: 'ok' }], refusal: null },
    ],
    tools: [{ type: 'function', function: { name: 'lookup', description: 'Looks up', parameters: { type: 'object', properties: { q: { type: 'string' } } }, strict: true } }],
    tool_choice: { type: 'function', function: { name: 'lookup' } },
    parallel_tool_calls: false,
    response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } },
    temperature: 0.2,
    top_p: 0.9,
    n: 1,
    max_completion_tokens: 256,
    max_tokens: 256,
    stop: ['\n\n'],
    presence_penalty: 0.5,
    frequency_penalty: -0.5,
    logit_bias: { '50256': -100 },
    logprobs: true,
    top_logprobs: 3,
    seed: 42,
    user: 'user-1',
    metadata: { team: 'ml' },
    store: false,
    reasoning_effort: 'low',
    service_tier: 'auto',
    modalities: ['text'],
    prediction: { type: 'content', content: 'x' },
    prompt_cache_key: 'k',
    safety_identifier: 's',
  });
  const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true }, tool_choice: 'auto', response_format: { type: 'json_object' } });
  void stream;
  await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: ['a', 'b'], max_tokens: 0, echo: true, logprobs: 2, best_of: 2, suffix: 'end' });
  await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: [[1, 2, 3]] });
  await client.embeddings.create({ model: 'text-embedding-3-small', input: ['hello', 'world'], dimensions: 256 });
  await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello', encoding_format: 'float' });
  await client.embeddings.create({ model: 'text-embedding-3-small', input: [1, 2, 3] });
  const kinds: Record<string, RouteKind> = { '/v1/chat/completions': 'openai.chat', '/v1/completions': 'openai.completions', '/v1/embeddings': 'openai.embeddings' };
  assert.equal(captured.length, 7);
  for (const c of captured) v.validate(kinds[c.path]!, c.body);
  // The SDK sent the rich body as written (so the acceptance above covers those shapes).
  const first = captured[0]!.body as { messages: unknown[]; tools: unknown[]; response_format: { type: string } };
  assert.equal(first.messages.length, 6);
  assert.equal(first.tools.length, 1);
  assert.equal(first.response_format.type, "json_schema");
  assert.deepEqual(captured[1]!.body.stream_options, { include_usage: true });
  // Fields unknown to this gateway pass (newer SDKs), known fields keep their checks.
  v.validate('openai.chat', { model: 'm', messages: [{ role: 'user', content: 'x', future_field: { a: 1 } }], brand_new_option: [1, 2] });
  v.validate('openai.chat', { model: 'm', messages: [{ role: 'user', content: [{ type: 'video_url', video_url: {} }] }] });
});

test('chat: clear 400 naming the field path', () => {
  const ok = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
  rejects('openai.chat', { messages: ok.messages }, 'model: is required');
  rejects('openai.chat', { model: '', messages: ok.messages }, 'model: must not be empty');
  // Half a UTF-16 pair is not a name (policies could never match it; cedar-wasm throws on it): 400, not a 500.
  rejects('openai.chat', { model: 'x\ud800', messages: ok.messages }, /^model: must be valid Unicode text/);
  assert.equal(isRequestModelName('x\ud800'), false); // the /v1/models/{id} lookup and key scopes
  assert.equal(isRequestModelName('x\ud83d\ude00'), true);
  rejects('openai.chat', { model: 'm' }, 'messages: is required');
  rejects('openai.chat', { model: 'm', messages: [] }, 'messages: must contain at least one message');
  rejects('openai.chat', { model: 'm', messages: 'hi' }, 'messages: expected an array, got string');
  rejects('openai.chat', { model: 'm', messages: Array.from({ length: 9 }, () => ok.messages[0]) }, 'messages: more than 8 messages');
  const four = [ok.messages[0], ok.messages[0], ok.messages[0], { role: 'robot', content: 'x' }];
  rejects('openai.chat', { model: 'm', messages: four }, 'messages[3].role: expected one of system, user, assistant, tool, developer, function');
  rejects('openai.chat', { model: 'm', messages: [{ role: 'user' }] }, 'messages[0].content: is required');
  rejects('openai.chat', { model: 'm', messages: [{ role: 'user', content: 5 }] }, 'messages[0].content: expected a string or an array of content parts, got number');
  rejects('openai.chat', { model: 'm', messages: [{ role: 'user', content: 'x'.repeat(1001) }] }, 'messages[0].content: string longer than 1000 characters');
  rejects('openai.chat', { model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 1 }] }] }, 'messages[0].content[0].text: expected a string, got number');
  rejects('openai.chat', { model: 'm', messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'messages[0].content[0].type: expected "text" for this role');
  rejects('openai.chat', { model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'u', detail: 'max' } }] }] }, 'messages[0].content[0].image_url.detail: expected one of auto, low, high');
  rejects('openai.chat', { model: 'm', messages: [{ role: 'tool', content: 'r' }] }, 'messages[0].tool_call_id: expected a string, got undefined');
  rejects('openai.chat', { model: 'm', messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: {} } }] }] }, 'messages[0].tool_calls[0].function.arguments: expected a string, got object');
  rejects('openai.chat', { ...ok, max_tokens: 5000 }, 'max_tokens: must be between 1 and 4096');
  rejects('openai.chat', { ...ok, max_completion_tokens: 1.5 }, 'max_completion_tokens: expected an integer, got a fraction');
  rejects('openai.chat', { ...ok, temperature: 3 }, 'temperature: must be between 0 and 2');
  rejects('openai.chat', { ...ok, temperature: '0.5' }, 'temperature: expected a number, got string');
  rejects('openai.chat', { ...ok, stream: 'yes' }, 'stream: expected a boolean, got string');
  rejects('openai.chat', { ...ok, stream_options: { include_usage: 1 } }, 'stream_options.include_usage: expected a boolean, got number');
  rejects('openai.chat', { ...ok, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop: at most 4 stop sequences');
  rejects('openai.chat', { ...ok, tools: [{ type: 'function', function: { description: 'no name' } }] }, 'tools[0].function.name: expected a string, got undefined');
  rejects('openai.chat', { ...ok, tools: [{ type: 'function', function: { name: 'f', parameters: [] } }] }, 'tools[0].function.parameters: expected an object, got array');
  rejects('openai.chat', { ...ok, tool_choice: 'sometimes' }, 'tool_choice: expected one of none, auto, required');
  rejects('openai.chat', { ...ok, response_format: { type: 'json_schema' } }, 'response_format.json_schema: expected an object, got undefined');
  rejects('openai.chat', { ...ok, logit_bias: { '1': 500 } }, 'logit_bias.1: must be between -100 and 100');
  rejects('openai.chat', { ...ok, n: 0 }, 'n: must be between 1 and 128');
  // null for an optional field is the same as absent (the SDK allows it).
  v.validate('openai.chat', { ...ok, temperature: null, tools: null, stop: null });
});

test('error messages never echo the offending value', () => {
  const secret = 'sk-live-THIS-IS-A-SECRET';
  assert.throws(() => v.validate('openai.chat', { model: 'm', messages: [{ role: secret, content: 'x' }] }), (e: Error) => !e.message.includes(secret));
  assert.throws(() => v.validate('openai.chat', { model: 'm', messages: [{ role: 'user', content: secret.repeat(100) }] }), (e: Error) => !e.message.includes(secret));
  // Nor a key: metadata entries are named by position.
  rejects('openai.chat', { model: 'm', messages: [{ role: 'user', content: 'x' }], metadata: { team: 'ml', [secret]: 1 } }, /^metadata \(entry 2\): /);
});

test('completions and embeddings', () => {
  v.validate('openai.completions', { model: 'm', prompt: 'hello', max_tokens: 16 });
  rejects('openai.completions', { model: 'm' }, 'prompt: is required');
  rejects('openai.completions', { model: 'm', prompt: ['a', 2] }, 'prompt[1]: expected a string, got number');
  rejects('openai.completions', { model: 'm', prompt: [[1, 'x']] }, 'prompt[0][1]: expected an integer, got string (token id)');
  rejects('openai.completions', { model: 'm', prompt: { text: 'x' } }, 'prompt: expected a string or an array, got object');
  rejects('openai.completions', { model: 'm', prompt: 'x', logprobs: 6 }, 'logprobs: must be between 0 and 5');
  v.validate('openai.embeddings', { model: 'm', input: [[1, 2], [3]] });
  rejects('openai.embeddings', { model: 'm', input: '' }, 'input: must not be empty');
  rejects('openai.embeddings', { model: 'm', input: [] }, 'input: must not be empty');
  rejects('openai.embeddings', { model: 'm', input: Array.from({ length: 101 }, () => 'a') }, 'input: more than 100 items');
  rejects('openai.embeddings', { model: 'm', input: [Array.from({ length: 60 }, () => 1), Array.from({ length: 60 }, () => 1)] }, 'input: more than 100 tokens in total');
  rejects('openai.embeddings', { model: 'm', input: 'x', encoding_format: 'int8' }, 'encoding_format: expected one of float, base64');
  rejects('openai.embeddings', { model: 'm', input: 'x', dimensions: 0 }, 'dimensions: must be between 1 and 65536');
});

test('OIP v2 infer: datatypes, shape × data length, finite numbers, ranges, limits', () => {
  const t = (o: Record<string, unknown>): Record<string, unknown> => ({ inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2], ...o }] });
  v.validate('oip.infer', t({}));
  v.validate('oip.infer', t({ data: [[5.1, 3.5], [1.4, 0.2]], shape: [2, 2] })); // nested row-major data
  v.validate('oip.infer', { id: 'r1', parameters: {}, inputs: [{ name: 'a', shape: [2], datatype: 'BYTES', data: ['x', 'y'] }, { name: 'b', shape: [3], datatype: 'BOOL', data: [true, false, true] }], outputs: [{ name: 'out' }] });
  v.validate('oip.infer', t({ shape: [0], data: [] }));
  rejects('oip.infer', {}, 'inputs: is required');
  rejects('oip.infer', { inputs: [] }, 'inputs: must contain at least one tensor');
  rejects('oip.infer', { inputs: Array.from({ length: 5 }, (_, i) => ({ name: `i${i}`, shape: [1], datatype: 'FP32', data: [1] })) }, 'inputs: more than 4 items');
  rejects('oip.infer', t({ datatype: 'FLOAT' }), 'inputs[0].datatype: expected one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES');
  rejects('oip.infer', t({ data: [1, 2, 3] }), 'inputs[0].data: has 3 elements but shape [1, 4] needs 4');
  rejects('oip.infer', t({ data: [1, 2, 3, 4, 5] }), 'inputs[0].data: has more elements than shape allows (4)');
  rejects('oip.infer', t({ data: [1, 2, 'x', 4] }), 'inputs[0].data[2]: expected a finite number, got string');
  rejects('oip.infer', t({ data: JSON.parse('[1, 2, 1e999, 4]') as number[] }), 'inputs[0].data[2]: expected a finite number, got Infinity');
  rejects('oip.infer', t({ datatype: 'FP16', data: [1, 2, 70000, 4] }), 'inputs[0].data[2]: out of range for FP16');
  rejects('oip.infer', t({ datatype: 'INT8', data: [1, 2, 3.5, 4] }), 'inputs[0].data[2]: expected an integer for INT8');
  rejects('oip.infer', t({ datatype: 'UINT8', data: [1, 2, 256, 4] }), 'inputs[0].data[2]: out of range for UINT8');
  rejects('oip.infer', t({ datatype: 'BOOL', data: [true, 1, true, false] }), 'inputs[0].data[1]: expected a boolean, got number');
  rejects('oip.infer', t({ shape: [1, -4] }), 'inputs[0].shape[1]: expected a non-negative integer');
  rejects('oip.infer', t({ shape: [1e6, 1e6, 1e6] }), 'inputs[0].shape[0]: above 100');
  rejects('oip.infer', t({ shape: [50, 50] }), 'inputs[0].shape: describes more than 100 elements');
  rejects('oip.infer', t({ shape: [0, 1e300, 1e300], data: [] }), 'inputs[0].shape[1]: above 100'); // a zero dimension does not let the others through
  rejects('oip.infer', { inputs: [{ name: 'a', shape: [60], datatype: 'INT32', data: Array(60).fill(1) }, { name: 'b', shape: [60], datatype: 'INT32', data: Array(60).fill(1) }] }, 'inputs: more than 100 elements in total');
  rejects('oip.infer', { inputs: [{ name: 'a', shape: [1], datatype: 'INT32', data: [1] }, { name: 'a', shape: [1], datatype: 'INT32', data: [1] }] }, 'inputs[1].name: duplicate input name');
  rejects('oip.infer', t({ data: undefined }), 'inputs[0].data: is required (the binary tensor extension is not supported)');
  rejects('oip.infer', { ...t({}), outputs: [{ name: 'p', parameters: { binary_data: true } }] }, /^outputs\[0\]\.parameters\.binary_data: the binary tensor extension is not supported/);
  rejects('oip.infer', { ...t({}), parameters: { binary_data_output: true } }, /^parameters\.binary_data_output: the binary tensor extension is not supported/);
  v.validate('oip.infer', { ...t({}), outputs: [{ name: 'p', parameters: { binary_data: false } }] });
  rejects('oip.infer', t({ name: '' }), 'inputs[0].name: must not be empty');
  rejects('oip.infer', { ...t({}), outputs: [{}] }, 'outputs[0].name: expected a string, got undefined');
});

test('routes without a body or unknown to the validator pass through', () => {
  v.validate('openai.models', null);
  v.validate('oip.model.metadata', {});
});
