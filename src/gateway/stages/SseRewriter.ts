import { StringDecoder } from 'node:string_decoder';
import type { TextStreamTransformer } from '../ResponseGuards.js';
import { WardenError } from '../../errors/index.js';
import { completionChars, usageTotal, MODEL_TEXT_FIELDS } from '../index-internal.js';
import { guardStrings } from './guardStrings.js';
import { stringifyKeepingNumbers } from '../protocols/stringifyKeepingNumbers.js';
import { HeldLogprobs, TrackedText } from './HeldLogprobs.js';

/** Transformers for the text of one stream: the first choice gets `first`, every other choice its own. */
export interface StreamTransformers {
  first: TextStreamTransformer;
  more(): TextStreamTransformer;
}

type ToolCallDelta = { index?: unknown; function?: { arguments?: unknown } };
type Delta = { content?: unknown; tool_calls?: ToolCallDelta[]; function_call?: { arguments?: unknown } } & Record<string, unknown>;
type Choice = { index?: unknown; delta?: Delta; text?: unknown; finish_reason?: unknown; logprobs?: unknown };

/** Transformer key suffix of legacy `function_call.arguments`. */
const FUNCTION_CALL = 'function_call';
type Chunk = { usage?: unknown; choices?: Choice[] } & Record<string, unknown>;

/** What an event without choices carries in place of a value nested too deep for the guards. */
const WITHHELD_TOO_DEEP = '[WITHHELD: nested too deep to inspect]';

/** Largest single SSE event buffered (a chunk event is a few hundred bytes): bounds memory against a stream without event ends. */
const MAX_EVENT_CHARS = 1 << 20;

/** Fields of a chunk that identify the stream; copied onto the chunks the rewriter adds. */
const STREAM_FIELDS = ['id', 'object', 'created', 'model', 'system_fingerprint'] as const;

/**
 * Rewrites an OpenAI SSE stream event by event: completion text goes through a transformer per
 * choice (redaction across chunk boundaries, which holds back a tail of text) and the final
 * `usage` is kept for token accounting. Held-back text is released before the chunk that
 * finishes its choice, so clients that stop at `finish_reason` still get all of it.
 *
 * Parsed per the SSE format (any of \n, \r\n, \r line ends; `data:` with or without a space;
 * `event:`/`id:`/`retry:` lines; comments; a last event without its blank line): a stream the
 * parser did not understand would otherwise reach the client unredacted. With guards, every line
 * the client can read is guarded: comments pass as a bare `:`, `event:`/`id:` values are redacted,
 * and a line that is no SSE field at all (text, JSON without `data:`) withholds the rest of the
 * stream. Hand-written: no SSE library parses and re-emits events, and this is the product's own guard.
 */
export class SseRewriter {
  private pending = '';
  /** A '\r' at the end of a chunk: its '\n' may start the next one. */
  private pendingCr = false;
  private readonly decoder = new StringDecoder('utf8');
  /** Transformers of texts whose choice has not finished: key `"<choice>"` or `"<choice>/<tool call>"`. */
  private readonly active = new Map<string, TrackedText>();
  private readonly logprobs = new HeldLogprobs();
  /** Nothing decoded yet: a byte order mark the stream starts with is dropped, as SSE clients do. */
  private atStart = true;
  /** Events rewritten before the rewriter threw: flushHeld gives them first, so no released text is lost. */
  private unsent = '';
  private usedFirst = false;
  /** The stream is a legacy completions stream (`choices[].text`): held text is released as `text`. */
  private legacyText = false;
  private stream: Record<string, unknown> = {};

  /**
   * The last `usage` the upstream reported that counts tokens (usageTotal), or null (then the gateway estimates from
   * `completionChars`). Only the last counts: servers that report usage on every chunk
   * (vLLM's continuous_usage_stats) send running totals, which must be charged once.
   */
  usage: unknown = null;
  /** Completion text streamed so far, in characters (before redaction). */
  completionChars = 0;

  /**
   * @param hideUsage the gateway, not the client, asked for `usage` (stream_options.include_usage):
   *   it is read and removed, and the usage-only chunk is dropped, so the client sees the stream it asked for.
   */
  constructor(
    private readonly text: StreamTransformers | null,
    private readonly hideUsage = false,
  ) {}

  /** Upstream bytes; a UTF-8 character split across chunks is decoded whole. */
  push(chunk: Buffer): string {
    return this.pushText(this.decoder.write(chunk));
  }

  private pushText(text: string): string {
    if (this.atStart && text) {
      this.atStart = false;
      if (text.startsWith('\uFEFF')) text = text.slice(1);
    }
    if (this.pendingCr) text = '\r' + text;
    this.pendingCr = text.endsWith('\r');
    if (this.pendingCr) text = text.slice(0, -1);
    this.pending += text.replace(/\r\n?/g, '\n');
    let out = '';
    let end: number;
    try {
      while ((end = this.pending.indexOf('\n\n')) !== -1) {
        const event = this.pending.slice(0, end);
        this.pending = this.pending.slice(end + 2);
        out += this.rewriteEvent(event);
      }
    } catch (err) {
      this.unsent = out;
      throw err;
    }
    if (this.pending.length > MAX_EVENT_CHARS) {
      this.unsent = out;
      throw new WardenError('WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE', `the model server sent an event stream with an event over ${MAX_EVENT_CHARS} characters`);
    }
    return out;
  }

  /** End of the upstream stream (with or without `[DONE]`): the last event and any held text. */
  end(): string {
    const rest = this.decoder.end();
    if (rest) this.pending += rest;
    if (this.pendingCr) this.pending += '\n';
    const last = this.pending.trim();
    this.pending = '';
    this.pendingCr = false;
    return (last ? this.rewriteEvent(last) : '') + this.flushHeld();
  }


  private rewriteEvent(event: string): string {
    const { dataLines, otherLines } = this.text ? this.guardedFields(event) : fieldsAsTheyCame(event);
    if (dataLines.length === 0) return !this.text ? `${event}\n\n` : otherLines.length ? eventOf(otherLines, []) : '';
    const data = dataLines.join('\n');
    if (data === '[DONE]') return this.text ? this.flushHeld() + eventOf(otherLines, [data]) : `${event}\n\n`;
    let json: Chunk;
    try {
      json = JSON.parse(data) as Chunk;
    } catch {
      return this.text ? this.redactRaw(otherLines, data) : `${event}\n\n`;
    }
    if (!json || typeof json !== 'object') return this.text ? this.redactRaw(otherLines, data) : `${event}\n\n`;
    if (usageTotal(json.usage) !== null) this.usage = json.usage;
    this.completionChars += completionChars(json);
    let usageHidden = false;
    if (this.hideUsage && 'usage' in json) {
      delete json.usage;
      if (Array.isArray(json.choices) && json.choices.length === 0) return '';
      usageHidden = true;
    }
    if (!this.text) return usageHidden ? eventOf(otherLines, [stringifyKeepingNumbers(json, data)]) : `${event}\n\n`;
    // An event without choices (an error the upstream streams, say) is text the client reads too.
    if (!Array.isArray(json.choices)) return eventOf(otherLines, [stringifyKeepingNumbers(guardStrings(json, (s) => this.redactWhole(s), () => WITHHELD_TOO_DEEP), data)]);
    for (const field of STREAM_FIELDS) if (json[field] !== undefined) this.stream[field] ??= json[field];
    let before = '';
    json.choices.forEach((choice, position) => {
      if (!choice || typeof choice !== 'object') return;
      const index = typeof choice.index === 'number' ? choice.index : position;
      const carried: TrackedText[] = [];
      const finishing = choice.finish_reason !== null && choice.finish_reason !== undefined;
      const guard = (key: string, text: string): string => {
        const t = this.transformer(key);
        carried.push(t);
        let out = t.push(text);
        // Text this chunk releases as it finishes its choice is followed by the held rest in place:
        // the chunk of its own released before (flushChoice) would put that rest ahead of it.
        if (finishing && out) {
          out += t.flush();
          this.active.delete(key);
        }
        if (t.changed) this.logprobs.redact(index);
        return out;
      };
      if (choice.delta && typeof choice.delta.content === 'string') choice.delta.content = guard(`${index}`, choice.delta.content);
      else if (typeof choice.text === 'string') {
        this.legacyText = true;
        choice.text = guard(`${index}`, choice.text);
      }
      // Tool-call arguments are model output that reaches the client too: one transformer per call.
      const delta = choice.delta;
      const calls = delta?.tool_calls;
      if (Array.isArray(calls)) {
        calls.forEach((call, i) => {
          const fn = call?.function;
          if (fn && typeof fn.arguments === 'string') fn.arguments = guard(`${index}/${typeof call.index === 'number' ? call.index : i}`, fn.arguments);
        });
      }
      if (delta && typeof delta.function_call?.arguments === 'string') delta.function_call.arguments = guard(`${index}/${FUNCTION_CALL}`, delta.function_call.arguments);
      // Reasoning and refusals: each redacted as a text of its own.
      if (delta) for (const field of MODEL_TEXT_FIELDS) if (typeof delta[field] === 'string') delta[field] = guard(`${index}/${field}`, delta[field]);
      // Log probabilities spell out the text token by token: they follow the text once it is released unchanged.
      if (choice.logprobs !== undefined && choice.logprobs !== null) this.logprobs.hold(index, choice.logprobs, carried);
      if (finishing) before += this.flushChoice(index, false);
      const logprobs = this.logprobs.take(index);
      if (logprobs !== null) choice.logprobs = logprobs;
      else if (choice.logprobs !== undefined) choice.logprobs = null;
    });
    return before + eventOf(otherLines, [stringifyKeepingNumbers(json, data)]);
  }

  /** One text redacted whole, with a transformer of its own. */
  private redactWhole(text: string): string {
    const t = this.text!.more();
    return t.push(text) + t.flush();
  }

  /**
   * An event's lines as the guards let them through: `data` values (to be guarded by the caller),
   * comments as a bare `:` (kept: proxies and clients use them as keep-alives), `event`/`id` with
   * their values redacted, `retry` when it is the number SSE defines. Any other line is text a
   * client may read that is no SSE field: the stream is withheld from there (fail closed).
   */
  private guardedFields(event: string): { dataLines: string[]; otherLines: string[] } {
    const dataLines: string[] = [];
    const otherLines: string[] = [];
    for (const line of event.split('\n')) {
      if (line === '') continue;
      if (line.startsWith(':')) {
        otherLines.push(':');
        continue;
      }
      const colon = line.indexOf(':');
      const name = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(line.startsWith(' ', colon + 1) ? colon + 2 : colon + 1);
      if (name === 'data') dataLines.push(value);
      else if (name === 'event' || name === 'id') otherLines.push(`${name}: ${this.redactWhole(value)}`);
      else if (name === 'retry') {
        if (/^\d{1,9}$/.test(value)) otherLines.push(`retry: ${value}`);
      } else {
        throw new WardenError('WARDEN_GATEWAY_UPSTREAM_UNINSPECTABLE', 'the model server sent a line in its event stream that is not an SSE field, which the output guards cannot read; the rest of the stream is withheld');
      }
    }
    return { dataLines, otherLines };
  }

  /** Data that is not JSON is still text the client reads: redacted whole (fail closed), line structure kept. */
  private redactRaw(otherLines: string[], data: string): string {
    return eventOf(otherLines, this.redactWhole(data).split('\n'));
  }

  /**
   * The transformer of one text of the stream: `"<choice>"` (content), `"<choice>/<tool call>"`
   * (arguments), `"<choice>/function_call"` or `"<choice>/<field>"` (reasoning, refusal).
   */
  private transformer(key: string): TrackedText {
    let t = this.active.get(key);
    if (!t) {
      // Text after a choice finished (unusual) gets a fresh transformer: it is still redacted.
      t = new TrackedText(this.usedFirst ? this.text!.more() : this.text!.first);
      this.usedFirst = true;
      this.active.set(key, t);
    }
    return t;
  }

  /**
   * Releases one choice's held text (content, then each tool call's arguments) as chunks identified
   * like the stream's; the logprobs it frees go with the last of them when `withLogprobs`
   * (otherwise the caller's chunk takes them).
   */
  private flushChoice(index: number, withLogprobs: boolean): string {
    const chunks: Record<string, unknown>[] = [];
    for (const [key, t] of [...this.active]) {
      const [choiceKey, toolKey] = key.split('/');
      if (Number(choiceKey) !== index) continue;
      this.active.delete(key);
      const tail = t.flush();
      if (t.changed) this.logprobs.redact(index);
      if (!tail) continue;
      const delta =
        toolKey === undefined
          ? { content: tail }
          : toolKey === FUNCTION_CALL
            ? { function_call: { arguments: tail } }
            : /^\d+$/.test(toolKey)
              ? { tool_calls: [{ index: Number(toolKey), function: { arguments: tail } }] }
              : { [toolKey]: tail };
      const choice: Record<string, unknown> = toolKey === undefined && this.legacyText ? { index, text: tail, finish_reason: null } : { index, delta, finish_reason: null };
      const chunk: Record<string, unknown> = { ...this.stream };
      chunk.object ??= this.legacyText ? 'text_completion' : 'chat.completion.chunk';
      chunk.choices = [choice];
      chunks.push(chunk);
    }
    const last = chunks.at(-1);
    if (last && withLogprobs) {
      const logprobs = this.logprobs.take(index);
      if (logprobs !== null) (last.choices as Record<string, unknown>[])[0]!.logprobs = logprobs;
    }
    return chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join('');
  }

  /** All text still held, as events: at the end of the stream, or before the gateway's error event when the upstream failed or the rewriter threw. */
  flushHeld(): string {
    let out = this.unsent;
    this.unsent = '';
    const choices = new Set([...this.active.keys()].map((key) => Number(key.split('/')[0])));
    for (const index of choices) out += this.flushChoice(index, true);
    return out;
  }
}

/** An event's `data:` values and its other lines as they came (no guards: only `usage` is read). */
function fieldsAsTheyCame(event: string): { dataLines: string[]; otherLines: string[] } {
  const dataLines: string[] = [];
  const otherLines: string[] = [];
  for (const line of event.split('\n')) {
    if (line.startsWith('data:')) dataLines.push(line.slice(line.startsWith('data: ') ? 6 : 5));
    else otherLines.push(line);
  }
  return { dataLines, otherLines };
}

/** One SSE event: its other fields, then one `data:` line per line of data. */
function eventOf(fieldLines: readonly string[], dataLines: readonly string[]): string {
  let out = '';
  for (const l of fieldLines) out += `${l}\n`;
  for (const l of dataLines) out += `data: ${l}\n`;
  return `${out}\n`;
}
