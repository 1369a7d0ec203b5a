import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MemoryRateLimiter,
  RateLimitPolicy,
  estimatePromptTokens,
  promptTokenCeiling,
  reserveCompletionTokens,
  COMPLETION_CEILING_TOKENS,
  MEDIA_PART_CEILING_TOKENS,
} from '../../../src/gateway/ratelimit/index.js';
import { upstreamConfig } from '../../../src/config/index.js';
import { startTestGateway } from '../../helpers/inProcessGateway.js';
import { mockUpstream, post, settledCharge } from '../../helpers/tokenUpstream.js';

// The ceiling on a call's reported usage once came from the client's own request: a content part
// without `.text` (a refusal part of 400 KB) was estimated at 85 tokens and the usage cut to
// 12 × that, and `max_tokens: 1` beside llama.cpp's `n_predict: 8000` reserved 1 token and cut
// the usage to 1 completion token. A 60 000 tokens/min key got 1.9 M prompt tokens, or 2.6 M
// completion tokens, through in 10 s.

const TPM = 60_000; // burst 10 000
const ATTEMPTS = 10;

/** A model server: prompt tokens = characters / 4 of every string its chat template renders (any message field but the role, every string in a part but its type). */
function promptTokensOf(body: Record<string, unknown>): number {
  let chars = 0;
  for (const m of (body.messages as Record<string, unknown>[] | undefined) ?? []) {
    for (const [k, v] of Object.entries(m)) if (k !== 'role' && typeof v === 'string') chars += v.length;
    if (Array.isArray(m.content)) for (const p of m.content as Record<string, unknown>[]) for (const [k, v] of Object.entries(p)) if (k !== 'type' && typeof v === 'string') chars += v.length;
  }
  return Math.ceil(chars / 4);
}

function answer(prompt: number, completion: number): string {
  return JSON.stringify({ id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'w'.repeat(Math.min(completion, 16)) }, finish_reason: 'length' }], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } });
}

/** Tokens a limiter was charged in all: admissions it allowed plus every correction (a refund counts negative). */
function chargeMeter(limiter: MemoryRateLimiter) {
  const takeMany = mock.method(limiter, 'takeMany');
  const adjust = mock.method(limiter, 'adjust');
  const admitted = () =>
    takeMany.mock.calls.reduce((n, c) => n + ((c.result as { allowed: boolean }).allowed ? (c.arguments[0] as readonly { cost: number }[]).reduce((m, t) => m + t.cost, 0) : 0), 0);
  return { admitted, charged: () => admitted() + adjust.mock.calls.reduce((n, c) => n + (c.arguments[1] as number), 0) };
}

/** Sends ATTEMPTS identical chats back to back through a gateway limited to TPM; counts the 200s and what the upstream reported for them. */
async function attack(upstreamAnswer: (body: Record<string, unknown>) => string, chat: Record<string, unknown>) {
  let reported = 0;
  const upstream = await mockUpstream((body, _req, res) => {
    const text = upstreamAnswer(body);
    reported += (JSON.parse(text) as { usage: { total_tokens: number } }).usage.total_tokens;
    res.writeHead(200, { 'content-type': 'application/json' }).end(text);
  });
  const limiter = new MemoryRateLimiter();
  const meter = chargeMeter(limiter);
  const policy = new RateLimitPolicy([{ match: { key: '*' }, tokensPerMinute: TPM }], { limiter });
  const gw = await startTestGateway({ upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'] })], rateLimit: policy, maxBodyBytes: 1024 * 1024 });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < ATTEMPTS; i++) statuses.push((await post(gw, '/v1/chat/completions', chat)).status);
    const charged = await settledCharge(meter.charged);
    return { ok: statuses.filter((s) => s === 200).length, statuses, charged, reported };
  } finally {
    await gw.close(0);
    await upstream.close();
  }
}

// 810 000 characters ≈ 202 500 tokens: more than the completion ceiling (COMPLETION_CEILING_TOKENS) too, so
// only a prompt ceiling that sees the whole body lets it be charged.
const big = 'lorem ipsum dolor sit amet '.repeat(30_000);

for (const [what, messages] of [
  ['a refusal part', [{ role: 'user', content: [{ type: 'refusal', refusal: big }] }]],
  ['a thinking part', [{ role: 'user', content: [{ type: 'thinking', thinking: big }] }]],
  ["an assistant message's reasoning_content", [{ role: 'assistant', content: '', reasoning_content: big }, { role: 'user', content: 'go on' }]],
  // Text no estimate sees (a server's own chat template renders this field): the ceiling alone must not cut it.
  ['a message field only a custom template reads', [{ role: 'user', content: 'summarise', document: big }]],
] as const) {
  test(`${what} of 800 KB is charged what the upstream reports: one call, not a burst of them`, { timeout: 30_000 }, async () => {
    const r = await attack((body) => answer(promptTokensOf(body), 1), { model: 'm', max_tokens: 1, messages });
    assert.equal(r.ok, 1, `statuses ${r.statuses.join(',')}: a ~202 000-token prompt empties a 10 000-token burst`);
    assert.ok(r.statuses.every((s) => s === 200 || s === 429), r.statuses.join(','));
    assert.equal(r.charged, r.reported, 'the honest usage is charged in full, not cut to 12 × an 85-token estimate');
  });
}

test('max_tokens: 1 beside n_predict: 8000 (llama.cpp obeys n_predict) reserves and is charged the 8000 generated', { timeout: 30_000 }, async () => {
  const r = await attack(
    (body) => answer(5, Number(body.n_predict ?? body.max_tokens ?? 16)),
    { model: 'm', max_tokens: 1, n_predict: 8000, messages: [{ role: 'user', content: 'hi' }] },
  );
  assert.equal(r.ok, 1, `statuses ${r.statuses.join(',')}: 8005 tokens a call against a 10 000-token burst`);
  assert.equal(r.charged, r.reported, 'charged the 8005 the upstream reported, not 12 × prompt + 1');
});

test('a plain chat is reserved and charged as before: prompt estimate + max_tokens, then the reported total', { timeout: 30_000 }, async () => {
  const upstream = await mockUpstream((_b, _req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(answer(12, 30)));
  const limiter = new MemoryRateLimiter();
  const meter = chargeMeter(limiter);
  const policy = new RateLimitPolicy([{ match: { key: '*' }, tokensPerMinute: TPM }], { limiter });
  const gw = await startTestGateway({ upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'] })], rateLimit: policy });
  try {
    const chat = { model: 'm', max_tokens: 64, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'what is 2+2?' }] }] };
    assert.equal((await post(gw, '/v1/chat/completions', chat)).status, 200);
    assert.equal(meter.admitted(), 4 + 4 + Math.ceil((8 + 12) / 4) + 64, 'two messages of framing, 20 characters, max_tokens');
    assert.equal(await settledCharge(meter.charged), 42);
  } finally {
    await gw.close(0);
    await upstream.close();
  }
});

test('estimatePromptTokens counts every string of a non-media part and a message\'s reasoning and refusal; media parts stay flat', () => {
  const msg = (content: unknown, extra: object = {}) => ({ messages: [{ role: 'assistant', content, ...extra }] });
  assert.equal(estimatePromptTokens(msg([{ type: 'text', text: 'abcdefgh' }])), 4 + 2);
  assert.equal(estimatePromptTokens(msg([{ type: 'refusal', refusal: 'a'.repeat(400) }])), 4 + 100);
  assert.equal(estimatePromptTokens(msg([{ type: 'thinking', thinking: 'a'.repeat(396), signature: 'sig.' }])), 4 + 100);
  assert.equal(estimatePromptTokens(msg([{ type: 'x', nested: { deeper: ['a'.repeat(200), { s: 'b'.repeat(200) }] } }])), 4 + 100);
  assert.equal(estimatePromptTokens(msg(null, { reasoning_content: 'r'.repeat(200), refusal: 'n'.repeat(200) })), 4 + 100);
  for (const type of ['image_url', 'input_audio', 'file', 'video_url']) {
    assert.equal(estimatePromptTokens(msg([{ type, [type]: { url: `data:${'A'.repeat(4000)}` } }])), 4 + 85, type);
  }
  // Nested deeper than any call stack: walked without recursion.
  let deep: unknown = 'abcd';
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.equal(estimatePromptTokens(msg([{ type: 'x', deep }])), 4 + 1);
});

test('reserveCompletionTokens: the largest length field wins, vendor fields included; a "no limit" length reserves the most; the ceiling is never below the server-side one', () => {
  const config = { defaultTokens: 1024, maxTokens: 32_768 };
  const floor = COMPLETION_CEILING_TOKENS;
  assert.deepEqual(reserveCompletionTokens({ max_tokens: 1, n_predict: 8000 }, config), { reserved: 8000, most: floor });
  assert.deepEqual(reserveCompletionTokens({ max_tokens: 4000, max_completion_tokens: 300 }, config), { reserved: 4000, most: floor });
  assert.deepEqual(reserveCompletionTokens({ max_completion_tokens: 10, max_new_tokens: 700 }, config), { reserved: 700, most: floor });
  assert.deepEqual(reserveCompletionTokens({ max_tokens: 10, min_tokens: 900 }, config), { reserved: 900, most: floor });
  assert.deepEqual(reserveCompletionTokens({ max_tokens: 10, max_output_tokens: 50, n: 2 }, config), { reserved: 100, most: 2 * floor });
  assert.deepEqual(reserveCompletionTokens({ max_tokens: 1, n_predict: -1 }, config), { reserved: 32_768, most: floor }, 'llama.cpp: -1 generates until the context is full');
  assert.deepEqual(reserveCompletionTokens({ max_tokens: null, max_completion_tokens: 20 }, config), { reserved: 20, most: floor }, 'null is the SDKs\' absent');
  assert.deepEqual(reserveCompletionTokens({ max_tokens: 500_000 }, config), { reserved: 32_768, most: 500_000 }, 'a client can raise the ceiling, never lower it');
  assert.deepEqual(reserveCompletionTokens({ max_tokens: 1 }, { defaultTokens: 0, maxTokens: 0 }), { reserved: 0, most: floor }, 'even with reservations turned off');
});

test('promptTokenCeiling: body bytes + template allowance + a context window per media part', () => {
  const text = { messages: [{ role: 'user', content: [{ type: 'refusal', refusal: 'x' }] }] };
  assert.equal(promptTokenCeiling(text, 400_000), 400_000 + 1024);
  const media = { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://e/x.png' } }, { type: 'file', file: { file_id: 'f' } }, { type: 'text', text: 'y' }] }, null, 'junk'] };
  assert.equal(promptTokenCeiling(media, 300), 300 + 1024 + 2 * MEDIA_PART_CEILING_TOKENS);
  assert.equal(promptTokenCeiling({ prompt: [1, 2, 3] }, 40), 40 + 1024);
});
