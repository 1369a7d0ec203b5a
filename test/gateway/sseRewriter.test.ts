import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamRedactor } from '../../src/detect/index.js';
import { SseRewriter } from '../../src/gateway/stages/SseRewriter.js';

const redactors = () => ({ first: new StreamRedactor(), more: () => new StreamRedactor() });
const META = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 7, model: 'm' };

function chatChunk(index: number, content: string | null, finish: string | null = null): string {
  return `data: ${JSON.stringify({ ...META, choices: [{ index, delta: content === null ? {} : { content }, finish_reason: finish }] })}\n\n`;
}

/** Feeds `sse` in pieces of `step` bytes (so events, lines and UTF-8 characters split anywhere). */
function rewrite(sse: string, step: number, rewriter = new SseRewriter(redactors())): string {
  const bytes = Buffer.from(sse, 'utf8');
  let out = '';
  for (let i = 0; i < bytes.length; i += step) out += rewriter.push(bytes.subarray(i, i + step));
  return out + rewriter.end();
}

type Parsed = { data: Record<string, unknown> | '[DONE]'; lines: string[] };
function events(sse: string): Parsed[] {
  return sse
    .split('\n\n')
    .filter((e) => e.trim())
    .map((e) => {
      const lines = e.split('\n');
      const line = lines.find((l) => l.startsWith('data:'))!;
      const data = line.slice(line.startsWith('data: ') ? 6 : 5);
      return { data: data === '[DONE]' ? '[DONE]' : (JSON.parse(data) as Record<string, unknown>), lines };
    });
}

function textOf(evs: Parsed[], index: number): string {
  let text = '';
  for (const e of evs) {
    if (e.data === '[DONE]') continue;
    for (const c of e.data.choices as { index: number; delta?: { content?: string }; text?: string }[]) if (c.index === index) text += c.delta?.content ?? c.text ?? '';
  }
  return text;
}

const words = 'Write to alice@example.com about the order, then confirm it by phone tomorrow morning'.split(' ');

for (const step of [1, 3, 7, 4096]) {
  test(`held-back text is released before the chunk that finishes the choice, redacted, in order (pieces of ${step} bytes)`, () => {
    const sse = words.map((w, i) => chatChunk(0, (i ? ' ' : '') + w)).join('') + chatChunk(0, null, 'stop') + 'data: [DONE]\n\n';
    const evs = events(rewrite(sse, step));
    const finish = evs.findIndex((e) => e.data !== '[DONE]' && (e.data.choices as { finish_reason: unknown }[])[0]!.finish_reason === 'stop');
    assert.ok(finish > 0);
    assert.equal(textOf(evs.slice(0, finish), 0), 'Write to [REDACTED:email] about the order, then confirm it by phone tomorrow morning', 'all text arrives before finish_reason');
    assert.equal(textOf(evs.slice(finish), 0), '');
    assert.equal(evs.at(-1)!.data, '[DONE]');
    for (const e of evs.slice(0, -1)) assert.deepEqual({ ...(e.data as object), choices: undefined }, { ...META, choices: undefined }, 'every chunk, the released one too, names the stream');
  });
}

test('each choice of an n>1 stream is redacted on its own: text of one never lands in another', () => {
  const a = 'first answer mentions bob@example.org and nothing else of note here'.split(' ');
  const b = 'second answer is quite different and shorter than the first one'.split(' ');
  let sse = '';
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i]) sse += chatChunk(0, (i ? ' ' : '') + a[i]);
    if (b[i]) sse += chatChunk(1, (i ? ' ' : '') + b[i]);
  }
  sse += chatChunk(1, null, 'stop') + chatChunk(0, null, 'stop') + 'data: [DONE]\n\n';
  const evs = events(rewrite(sse, 5));
  assert.equal(textOf(evs, 0), a.join(' ').replace('bob@example.org', '[REDACTED:email]'));
  assert.equal(textOf(evs, 1), b.join(' '));
});

test('SSE variants are parsed, not passed through unredacted: CRLF and CR line ends, "data:" without a space, event and id lines', () => {
  const secretWords = 'my address is carol@example.net so write soon please'.split(' ');
  for (const style of ['crlf', 'cr', 'nospace', 'fields'] as const) {
    let sse = secretWords.map((w, i) => chatChunk(0, (i ? ' ' : '') + w)).join('') + chatChunk(0, null, 'stop') + 'data: [DONE]\n\n';
    if (style === 'crlf') sse = sse.replace(/\n/g, '\r\n');
    if (style === 'cr') sse = sse.replace(/\n/g, '\r');
    if (style === 'nospace') sse = sse.replace(/data: /g, 'data:');
    if (style === 'fields') sse = sse.replace(/data: /g, 'event: message\nid: 1\ndata: ');
    const out = rewrite(sse, 2);
    assert.doesNotMatch(out, /carol@example\.net/, style);
    assert.equal(textOf(events(out), 0), 'my address is [REDACTED:email] so write soon please', style);
    if (style === 'fields') assert.equal(events(out).filter((e) => e.lines.includes('event: message') && e.lines.includes('id: 1')).length, secretWords.length + 2, 'the upstream events keep their other fields');
  }
});

test('a stream that ends without [DONE] or without its last blank line still gets the last event redacted and the held text', () => {
  const sse = chatChunk(0, 'reach me at dave@example.com') + chatChunk(0, ' or not').trimEnd();
  const out = rewrite(sse, 4);
  assert.doesNotMatch(out, /dave@example\.com/);
  assert.equal(textOf(events(out), 0), 'reach me at [REDACTED:email] or not');
});

test('a UTF-8 character split across upstream chunks arrives whole', () => {
  const text = 'naïve café — 日本語 🙂 ok';
  const out = rewrite(chatChunk(0, text) + chatChunk(0, null, 'stop') + 'data: [DONE]\n\n', 1);
  assert.equal(textOf(events(out), 0), text);
  assert.doesNotMatch(out, /\uFFFD/);
});

test('legacy completions stream: held text is released as a text chunk before the finishing chunk', () => {
  const meta = { id: 'cmpl-1', object: 'text_completion', created: 1, model: 'm' };
  const chunk = (text: string, finish: string | null = null) => `data: ${JSON.stringify({ ...meta, choices: [{ index: 0, text, finish_reason: finish }] })}\n\n`;
  const out = rewrite(chunk('email erin@example.com') + chunk(' done') + chunk('', 'length') + 'data: [DONE]\n\n', 6);
  const evs = events(out);
  const finish = evs.findIndex((e) => e.data !== '[DONE]' && (e.data.choices as { finish_reason: unknown }[])[0]!.finish_reason === 'length');
  assert.equal(textOf(evs.slice(0, finish), 0), 'email [REDACTED:email] done');
  assert.equal((evs[finish - 1]!.data as { object: string }).object, 'text_completion');
});

test('when the upstream fails mid-stream, flushHeld gives the held text (redacted) for the gateway to send before its error event', () => {
  const r = new SseRewriter(redactors());
  const partial = r.push(Buffer.from(chatChunk(0, 'contact frank@example.com later')));
  const held = r.flushHeld();
  assert.equal(textOf(events(partial + held), 0), 'contact [REDACTED:email] later');
});

test('usage is kept from the chunk that carries it, with or without a transformer', () => {
  for (const text of [redactors(), null]) {
    const r = new SseRewriter(text);
    const usageChunk = `data: ${JSON.stringify({ ...META, choices: [], usage: { total_tokens: 9 } })}\n\n`;
    rewrite(chatChunk(0, 'hi') + usageChunk + 'data: [DONE]\n\n', 3, r);
    assert.deepEqual(r.usage, { total_tokens: 9 });
  }
});

test('usage on every chunk (running totals, as vLLM sends with continuous_usage_stats): the last one is kept', () => {
  const r = new SseRewriter(null);
  let sse = '';
  for (let i = 1; i <= 5; i++) sse += `data: ${JSON.stringify({ ...META, choices: [{ index: 0, delta: { content: 'x' }, finish_reason: null }], usage: { prompt_tokens: 10, completion_tokens: i, total_tokens: 10 + i } })}\n\n`;
  rewrite(sse + 'data: [DONE]\n\n', 7, r);
  assert.deepEqual(r.usage, { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });
});

test('streamed tool-call arguments are redacted per call and released (as a tool_calls delta) before the finishing chunk', () => {
  const args = JSON.stringify({ to: 'grace@example.com', body: 'see you' });
  const pieces = args.match(/.{1,5}/g)!;
  const call = (i: number, a: string) => `data: ${JSON.stringify({ ...META, choices: [{ index: 0, delta: { tool_calls: [{ index: i, ...(a === pieces[0] ? { id: `call_${i}`, type: 'function', function: { name: 'mail', arguments: a } } : { function: { arguments: a } }) }] }, finish_reason: null }] })}\n\n`;
  let sse = '';
  for (const p of pieces) sse += call(0, p) + call(1, p);
  sse += chatChunk(0, null, 'tool_calls') + 'data: [DONE]\n\n';
  const evs = events(rewrite(sse, 9));
  const finish = evs.findIndex((e) => e.data !== '[DONE]' && (e.data.choices as { finish_reason: unknown }[])[0]!.finish_reason === 'tool_calls');
  for (const i of [0, 1]) {
    let got = '';
    for (const e of evs.slice(0, finish)) {
      for (const c of (e.data as { choices: { delta?: { tool_calls?: { index: number; function?: { arguments?: string } }[] } }[] }).choices) {
        for (const t of c.delta?.tool_calls ?? []) if (t.index === i) got += t.function?.arguments ?? '';
      }
    }
    assert.deepEqual(JSON.parse(got), { to: '[REDACTED:email]', body: 'see you' }, `tool call ${i}`);
  }
});

test('data that is not JSON is redacted whole, not passed through', () => {
  const out = rewrite('data: plain text to henry@example.com\ndata: second line\n\n' + chatChunk(0, 'ok', 'stop') + 'data: [DONE]\n\n', 3);
  assert.doesNotMatch(out, /henry@example\.com/);
  assert.match(out, /^data: plain text to \[REDACTED:email\]\ndata: second line\n\n/);
});

test('a stream without event ends cannot grow the buffer without bound', () => {
  const r = new SseRewriter(redactors());
  const piece = Buffer.from('data: ' + 'x'.repeat(64 * 1024));
  assert.throws(() => {
    for (let i = 0; i < 40; i++) r.push(piece);
  }, (e: unknown) => (e as { code?: string }).code === 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE');
});

test('reasoning, refusal and legacy function_call arguments are redacted like content; logprobs are dropped; an error event and a bare string event are redacted', () => {
  const key = 'AKIAIOSFODNN7EXAMPLQ';
  const pieces = `the key is ${key} ok`.match(/.{1,4}/g)!;
  let sse = '';
  for (const p of pieces) {
    sse += `data: ${JSON.stringify({ ...META, choices: [{ index: 0, delta: { reasoning_content: p }, logprobs: { content: [{ token: p, logprob: -0.1 }] }, finish_reason: null }] })}\n\n`;
    sse += `data: ${JSON.stringify({ ...META, choices: [{ index: 1, delta: { function_call: { arguments: p } }, finish_reason: null }] })}\n\n`;
    sse += `data: ${JSON.stringify({ ...META, choices: [{ index: 2, delta: { refusal: p }, finish_reason: null }] })}\n\n`;
  }
  sse += `data: ${JSON.stringify({ error: { message: `upstream failed with ${key}` } })}\n\n`;
  sse += `data: ${JSON.stringify(`raw ${key}`)}\n\n`;
  for (const i of [0, 1, 2]) sse += chatChunk(i, null, 'stop');
  sse += 'data: [DONE]\n\n';
  for (const step of [1, 5, 4096]) {
    const out = rewrite(sse, step);
    assert.doesNotMatch(out, new RegExp(key), `step ${step}`);
    const evs = events(out).filter((e) => e.data !== '[DONE]');
    const joined = (i: number, pick: (d: Record<string, unknown>) => unknown) =>
      evs.flatMap((e) => ((e.data as { choices?: { index: number; delta?: Record<string, unknown> }[] }).choices ?? []).filter((c) => c.index === i && c.delta).map((c) => String(pick(c.delta!) ?? ''))).join('');
    assert.equal(joined(0, (d) => d.reasoning_content), 'the key is [REDACTED:aws_access_key] ok');
    assert.equal(joined(1, (d) => (d.function_call as { arguments?: string } | undefined)?.arguments), 'the key is [REDACTED:aws_access_key] ok');
    assert.equal(joined(2, (d) => d.refusal), 'the key is [REDACTED:aws_access_key] ok');
    for (const e of evs) for (const c of ((e.data as { choices?: { logprobs?: unknown }[] }).choices ?? [])) assert.ok(c.logprobs === undefined || c.logprobs === null);
    assert.ok(out.includes('upstream failed with [REDACTED:aws_access_key]'));
  }
});

test('a rewritten stream event keeps 64-bit integers exactly as the upstream sent them', () => {
  const sse = 'data: {"id":"c","object":"chat.completion.chunk","created":7,"model":"m","x_trace":12345678901234567891,"choices":[{"index":0,"delta":{"content":"hello"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n';
  assert.match(rewrite(sse, 7), /"x_trace":12345678901234567891,/);
});

test('a chunk that finishes its choice with text past the hold-back window keeps the text in order', () => {
  const long = 'word '.repeat(40) + 'END';
  for (const step of [3, 4096]) {
    const out = rewrite(chatChunk(0, 'Start. ') + chatChunk(0, long, 'stop') + 'data: [DONE]\n\n', step);
    assert.equal(textOf(events(out), 0), 'Start. ' + long, `step ${step}`);
  }
});

test('legacy completions logprobs are held with their text and joined in order; a stream cut before finish_reason still gets them with the held text', () => {
  const meta = { id: 'cmpl-1', object: 'text_completion', created: 1, model: 'm' };
  const words = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen'.split(/(?= )/);
  let offset = 0;
  const sse = words
    .map((w) => {
      const lp = { tokens: [w], token_logprobs: [-0.5], top_logprobs: [{ [w]: -0.5 }], text_offset: [offset] };
      offset += w.length;
      return `data: ${JSON.stringify({ ...meta, choices: [{ index: 0, text: w, logprobs: lp, finish_reason: null }] })}\n\n`;
    })
    .join('');
  for (const step of [5, 4096]) {
    const evs = events(rewrite(sse, step));
    let text = '';
    const tokens: string[] = [];
    const offsets: number[] = [];
    for (const e of evs) {
      const c = (e.data as { choices: { text: string; logprobs?: { tokens: string[]; text_offset: number[] } | null }[] }).choices[0]!;
      text += c.text;
      tokens.push(...(c.logprobs?.tokens ?? []));
      offsets.push(...(c.logprobs?.text_offset ?? []));
      assert.ok(text.startsWith(tokens.join('')), 'logprobs never run ahead of the text');
    }
    assert.equal(text, words.join(''));
    assert.deepEqual(tokens, words, `step ${step}: every token, in order`);
    assert.deepEqual(offsets, words.map((_, i) => words.slice(0, i).join('').length));
  }
});
