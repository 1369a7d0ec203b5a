import { WardenError } from '../errors/index.js';
import { MESSAGE_TEXT_FIELDS, PART_TEXT_FIELDS, type Detectors, type ChatMessage } from './createDetectors.js';
import type { Verdict } from './types.js';
import { throwIfBlocked, parseFeedback } from './enforceVerdicts.js';
import type { AccuracyReport } from './performance/PerformanceMonitor.js';
import { recognizers, createScanBudget, type ScanBudget } from './pii/findSensitive.js';

/**
 * The parts of the gateway's RequestContext the guards use. Structural on purpose: src/detect does
 * not import src/gateway; the object returned below satisfies the gateway's `GatewayGuards`.
 */
export interface GuardRequestContext {
  route: { kind: string; model: string | null } | null;
  json: Record<string, unknown> | null;
  body: Buffer | null;
  principal: { id: string; entity?: { type: string; id: string } } | null;
  verdicts: { detector: string; action: string; score?: number; kinds?: string[] }[] | null;
}

export interface DetectorGuards {
  inspectRequest(ctx: GuardRequestContext): Promise<void>;
  wantsResponse(ctx: GuardRequestContext): boolean;
  transformJson(ctx: GuardRequestContext, body: unknown): unknown;
  guardErrorText(ctx: GuardRequestContext, text: string): string;
  streamTransformer(ctx: GuardRequestContext): { push(text: string): string; flush(): string } | null;
  /** After an answer went out with a 2xx status: remembers the prediction so that feedback can name it. */
  predictionServed(ctx: GuardRequestContext & { requestId: string }): void;
  /**
   * POST /v1/feedback: validates the body (WARDEN_DETECT_FEEDBACK_INVALID names the field), ties it
   * to a prediction served to the same principal and model (WARDEN_DETECT_FEEDBACK_UNKNOWN_REQUEST,
   * once: WARDEN_DETECT_FEEDBACK_DUPLICATE) and feeds the accuracy monitor with the recorded label.
   */
  recordFeedback(ctx: GuardRequestContext): AccuracyReport;
}

export interface GuardOptions {
  /**
   * JSON text of a rewritten body, given the original text. The gateway passes one that keeps
   * number literals JS cannot hold exactly (INT64 tensors, seeds) as the client wrote them.
   */
  stringify?: (value: unknown, original: string) => string;
}

const MAX_ROWS = 100_000;
const secretKinds = new Set(recognizers.filter((r) => r.category === 'secret').map((r) => r.kind));

type ToolCall = { function?: { arguments?: unknown }; custom?: { input?: unknown } };
type ChoiceMessage = { content?: unknown; tool_calls?: ToolCall[]; function_call?: { arguments?: unknown } } & Record<string, unknown>;
type CompletionChoice = { message?: ChoiceMessage; text?: unknown; logprobs?: unknown };

/**
 * A completion message with every text the client reads guarded: content (string, text parts or
 * bare string parts), reasoning and refusal, tool-call (function arguments, a custom tool's
 * input) and legacy function-call arguments. Returns `m` when nothing changed.
 */
function guardMessage(m: ChoiceMessage, guard: (text: string) => string): ChoiceMessage {
  // The copy is made on the first change only (this runs on every answer); `out ??= { ...m }` keeps the key order.
  let out: ChoiceMessage | null = null;
  if (typeof m.content === 'string') {
    const g = guard(m.content);
    if (g !== m.content) (out ??= { ...m }).content = g;
  } else if (Array.isArray(m.content)) {
    let partsChanged = false;
    const parts = m.content.map((p: unknown) => {
      // A bare string part, as the input side reads it too.
      if (typeof p === 'string') {
        const g = guard(p);
        if (g !== p) partsChanged = true;
        return g;
      }
      if (!p || typeof p !== 'object') return p;
      let part: Record<string, unknown> | undefined;
      for (const field of PART_TEXT_FIELDS) {
        const text = (p as Record<string, unknown>)[field];
        if (typeof text !== 'string') continue;
        const g = guard(text);
        if (g !== text) (part ??= { ...(p as Record<string, unknown>) })[field] = g;
      }
      if (!part) return p;
      partsChanged = true;
      return part;
    });
    if (partsChanged) (out ??= { ...m }).content = parts;
  }
  for (const field of MESSAGE_TEXT_FIELDS) {
    const v = m[field];
    if (typeof v !== 'string') continue;
    const g = guard(v);
    if (g !== v) (out ??= { ...m })[field] = g;
  }
  if (typeof m.function_call?.arguments === 'string') {
    const g = guard(m.function_call.arguments);
    if (g !== m.function_call.arguments) (out ??= { ...m }).function_call = { ...m.function_call, arguments: g };
  }
  if (Array.isArray(m.tool_calls)) {
    let callsChanged = false;
    const calls = m.tool_calls.map((t) => {
      // A custom tool's free-form input, as the input side reads it too.
      if (typeof t?.custom?.input === 'string') {
        const input = guard(t.custom.input);
        if (input === t.custom.input) return t;
        callsChanged = true;
        return { ...t, custom: { ...t.custom, input } };
      }
      if (typeof t?.function?.arguments !== 'string') return t;
      const args = guard(t.function.arguments);
      if (args === t.function.arguments) return t;
      callsChanged = true;
      return { ...t, function: { ...t.function, arguments: args } };
    });
    if (callsChanged) (out ??= { ...m }).tool_calls = calls;
  }
  return out ?? m;
}

/** A completion choice with its text or message guarded; `c` itself when nothing changed. */
function guardChoice(c: CompletionChoice, guard: (text: string) => string): CompletionChoice {
  if (!c || typeof c !== 'object') return c;
  if (typeof c.text === 'string') {
    const text = guard(c.text);
    if (text === c.text) return c;
    return { ...c, text, ...(c.logprobs === undefined ? {} : { logprobs: null }) };
  }
  const m = c.message;
  if (!m || typeof m !== 'object') return c;
  const guarded = guardMessage(m, guard);
  if (guarded === m) return c;
  return { ...c, message: guarded, ...(c.logprobs === undefined ? {} : { logprobs: null }) };
}

function addVerdicts(ctx: GuardRequestContext, verdicts: readonly Verdict[]): void {
  if (verdicts.length === 0) return;
  ctx.verdicts ??= [];
  // Keys in canonical order, like the rest of the gateway's audit record: it then serialises natively.
  for (const v of verdicts) ctx.verdicts.push({ action: v.action, detector: v.detector, ...(v.kinds ? { kinds: v.kinds } : {}), ...(v.score === undefined ? {} : { score: v.score }) });
}

/**
 * The principal detectors track and alarms name: the Cedar entity (`ApiKey::"team-a"`,
 * `User::"alice"`), as audit records do, so a response runbook can block it, and every key of one
 * principal adds to the same extraction evidence. Falls back to the authenticator's id.
 */
function principalOf(ctx: GuardRequestContext): string {
  const p = ctx.principal!;
  return p.entity ? `${p.entity.type}::${JSON.stringify(p.entity.id)}` : p.id;
}

function modelOf(ctx: GuardRequestContext): string {
  const fromBody = ctx.json && typeof ctx.json.model === 'string' ? ctx.json.model : null;
  return ctx.route?.model ?? fromBody ?? 'unknown';
}

type OipTensor = { name?: unknown; datatype?: unknown; shape?: unknown; data?: unknown };

/** The BYTES (text) tensors of an OIP v2 request or answer: text models (Triton's text_input/text_output). */
function bytesTensors(list: unknown): OipTensor[] {
  return Array.isArray(list) ? (list as OipTensor[]).filter((t) => t && typeof t === 'object' && t.datatype === 'BYTES' && Array.isArray(t.data)) : [];
}

/** A copy of a string or nested array with every string passed through `f` (the shape is kept). */
function mapStrings(data: unknown, f: (s: string) => string): unknown {
  if (typeof data === 'string') return f(data);
  return Array.isArray(data) ? data.map((d) => mapStrings(d, f)) : data;
}

/** Every string in a string or nested array, in order. */
function stringsOf(data: unknown, out: string[] = []): string[] {
  if (typeof data === 'string') out.push(data);
  else if (Array.isArray(data)) for (const d of data) stringsOf(d, out);
  return out;
}

/** Nesting followed in a request's tool definitions and documents (as the output guards follow answers). */
const MAX_REQUEST_TEXT_DEPTH = 64;

/**
 * Top-level fields of a chat request besides `messages` whose text the model reads: tool and
 * function definitions (descriptions, JSON-schema descriptions and property names) and vLLM's RAG
 * `documents`. They are inspected as tool content (role `tool`): instructions planted there are
 * indirect injection, and secrets or personal data there leave like a prompt's.
 */
const CHAT_TEXT_FIELDS = ['tools', 'functions', 'documents'] as const;

function tooDeep(field: string): never {
  throw new WardenError('WARDEN_GATEWAY_INVALID_REQUEST', `${field}: nested deeper than ${MAX_REQUEST_TEXT_DEPTH} levels, which the guards do not follow`, { param: field });
}

/** Every key and string value in a JSON value, depth first (the order mapJsonStrings visits them in). */
function jsonStrings(value: unknown, field: string, out: string[], depth = 0): string[] {
  if (typeof value === 'string') out.push(value);
  else if (value !== null && typeof value === 'object') {
    if (depth > MAX_REQUEST_TEXT_DEPTH) tooDeep(field);
    if (Array.isArray(value)) for (const v of value) jsonStrings(v, field, out, depth + 1);
    else
      for (const [k, v] of Object.entries(value)) {
        out.push(k);
        jsonStrings(v, field, out, depth + 1);
      }
  }
  return out;
}

/** A copy of a JSON value with every key and string value passed through `f`, in jsonStrings' order. */
function mapJsonStrings(value: unknown, f: (s: string) => string): unknown {
  if (typeof value === 'string') return f(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => mapJsonStrings(v, f));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const key = f(k);
    out[key] = mapJsonStrings(v, f);
  }
  return out;
}

/**
 * Feature rows of an OIP v2 request for the row detectors (OOD, drift, extraction): its first
 * numeric input, when that is an [N, d] tensor of finite numbers. Otherwise the reason it is not:
 * images ([N, C, H, W]), scalars, BOOL tensors are fine requests, just not rows.
 */
export function oipRows(json: Record<string, unknown>): number[][] | { unfit: string } {
  const inputs = Array.isArray(json.inputs) ? (json.inputs as OipTensor[]) : [];
  const input = inputs.find((t) => t && typeof t === 'object' && t.datatype !== 'BYTES' && t.datatype !== 'BOOL');
  const shape = input?.shape;
  if (!input || !Array.isArray(shape) || shape.length !== 2 || !Array.isArray(input.data)) return { unfit: 'the model input is not a numeric tensor of shape [N, features]' };
  const [n, d] = shape as [number, number];
  if (!Number.isInteger(n) || !Number.isInteger(d) || n < 1 || d < 1 || n > MAX_ROWS) return { unfit: `the model input must have shape [N, features] with 1 <= N <= ${MAX_ROWS}` };
  const flat = (input.data as unknown[]).flat(2);
  if (flat.length !== n * d || !flat.every((v) => typeof v === 'number' && Number.isFinite(v))) return { unfit: 'the model input data must hold N × features finite numbers' };
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) rows.push((flat as number[]).slice(i * d, (i + 1) * d));
  return rows;
}

/**
 * Items in an OIP v2 request that has no feature rows, for the query budget: the batch dimension
 * (shape[0]) of its first input of rank 2 or more ([N, C, H, W] images, [N, L] token ids), else 1.
 * Validation has bounded every dimension already.
 */
export function batchSize(json: Record<string, unknown>): number {
  const inputs = Array.isArray(json.inputs) ? (json.inputs as OipTensor[]) : [];
  const shape = inputs.find((t) => t && typeof t === 'object' && Array.isArray(t.shape))?.shape;
  const n = Array.isArray(shape) && shape.length >= 2 ? shape[0] : 1;
  return Number.isInteger(n) && (n as number) >= 1 ? (n as number) : 1;
}

/** Routes whose answers are predictions that feedback may label. */
const PREDICTION_ROUTES: ReadonlySet<string> = new Set(['oip.infer', 'openai.chat', 'openai.completions', 'openai.embeddings']);

/** Predicted labels from an OIP v2 answer: the `label` output, else the argmax of the probabilities. */
function oipLabels(body: unknown, n: number): number[] | undefined {
  const outputs = (body as { outputs?: { name?: string; shape?: number[]; data?: unknown[] }[] } | undefined)?.outputs;
  if (!Array.isArray(outputs)) return undefined;
  const label = outputs.find((o) => o?.name === 'label');
  if (label && Array.isArray(label.data) && label.data.length === n && label.data.every((v) => typeof v === 'number')) return label.data as number[];
  const probs = outputs.find((o) => Array.isArray(o?.shape) && o.shape.length === 2 && o.shape[0] === n && Array.isArray(o.data));
  if (!probs) return undefined;
  const k = probs.shape![1]!;
  // The model server's shape must match its data: a claimed [1, 1e9] over one value would loop a billion times.
  if (!Number.isInteger(k) || k < 1 || probs.data!.length !== n * k) return undefined;
  return Array.from({ length: n }, (_, i) => {
    // A loop, not Math.max(...row): spreading ~120k+ classes overflows the call stack.
    const data = probs.data as number[];
    let best = i * k;
    for (let j = best + 1; j < (i + 1) * k; j++) if (data[j]! > data[best]!) best = j;
    return best - i * k;
  });
}

/**
 * The gateway's guard hooks over the detectors: input inspection (injection, PII, secrets on chat;
 * OOD, extraction, budget on OIP v2), then output hardening, PRADA observation and completion
 * redaction (also in SSE streams). Blocking verdicts become WARDEN_GUARD_* errors; every verdict is
 * added to ctx.verdicts for the audit record.
 */
export function createGatewayGuards(detectors: Detectors, options: GuardOptions = {}): DetectorGuards {
  const stringify = options.stringify ?? ((value: unknown) => JSON.stringify(value));
  /** The forwarded body after a redaction: numbers the redaction left alone stay as the client wrote them. */
  const rewrittenBody = (ctx: GuardRequestContext, json: unknown): Buffer => Buffer.from(stringify(json, ctx.body?.toString('utf8') ?? ''));
  const oipInputs = new WeakMap<GuardRequestContext, number[][]>();
  const streamBudgets = new WeakMap<GuardRequestContext, ScanBudget>();
  /** The one label an OIP answer predicted (read in transformJson), recorded once the answer is out. */
  const answerLabels = new WeakMap<GuardRequestContext, number>();
  /**
   * The strings of `value` (completion prompts, embedding inputs, OIP text tensors' data), each
   * inspected as a user message: verdicts recorded, a block thrown. Returns `value` with its
   * strings redacted (same shape), or null when no redaction applies.
   */
  const guardTexts = async (ctx: GuardRequestContext, value: unknown, o: { injection: boolean; external: boolean }): Promise<unknown> => {
    const messages: ChatMessage[] = stringsOf(value).map((content) => ({ role: 'user', content }));
    if (messages.length === 0) return null;
    const route = modelOf(ctx);
    const verdicts = detectors.inspectChat(messages, route, { injection: o.injection });
    if (o.external) {
      const external = detectors.inspectChatExternal(messages, route);
      verdicts.push(...(Array.isArray(external) ? external : await external));
    }
    addVerdicts(ctx, verdicts);
    throwIfBlocked(verdicts);
    if (!verdicts.some((v) => v.action === 'redact')) return null;
    const redacted = detectors.redactChat(messages).messages;
    let next = 0;
    return mapStrings(value, () => redacted[next++]!.content as string);
  };
  return {
    async inspectRequest(ctx) {
      const kind = ctx.route?.kind;
      const json = ctx.json;
      if (!json) return;
      if (kind === 'openai.chat') {
        const sent: ChatMessage[] = Array.isArray(json.messages) ? (json.messages as ChatMessage[]) : [];
        // Tool definitions and documents join the scan as one tool message each (their strings as
        // string parts: one text to score, each string redacted in place).
        const fields = CHAT_TEXT_FIELDS.filter((f) => json[f] !== undefined && json[f] !== null);
        const messages: ChatMessage[] =
          fields.length === 0 ? sent : [...sent, ...fields.map((f): ChatMessage => ({ role: 'tool', content: jsonStrings(json[f], f, []) }))];
        const route = modelOf(ctx);
        // inspectChat returns a fresh list: the external verdicts are added to it, not to a copy.
        const verdicts = detectors.inspectChat(messages, route);
        // A list, not a promise, when there is no classifier to call: no await then.
        const pending = detectors.inspectChatExternal(messages, route);
        const external = Array.isArray(pending) ? pending : await pending;
        if (external.length > 0) verdicts.push(...external);
        addVerdicts(ctx, verdicts);
        throwIfBlocked(verdicts);
        if (verdicts.some((v) => v.action === 'redact')) {
          const redacted = detectors.redactChat(messages).messages;
          json.messages = redacted.slice(0, sent.length);
          fields.forEach((f, i) => {
            const strings = redacted[sent.length + i]!.content as string[];
            let next = 0;
            json[f] = mapJsonStrings(json[f], () => strings[next++]!);
          });
          ctx.body = rewrittenBody(ctx, json);
        }
        return;
      }
      if (kind === 'openai.completions' || kind === 'openai.embeddings') {
        // A batch of prompts or inputs is one message per text, so redaction keeps the batch as it
        // was. Text sent to an embedding model leaves like a prompt does: PII and secrets apply
        // (injection does not, nothing follows instructions). Token ids carry no text to scan.
        // A completion's `suffix` is read by the model like its prompt; so are the chat `messages`
        // vLLM's embeddings endpoint takes instead of `input` (every key and string of them).
        const field = kind === 'openai.completions' ? 'prompt' : 'input';
        const prompt = kind === 'openai.completions';
        const second = prompt ? json.suffix : json.messages == null ? undefined : jsonStrings(json.messages, 'messages', []);
        const guarded = await guardTexts(ctx, [json[field], second], { injection: prompt, external: prompt });
        if (guarded !== null) {
          const [first, other] = guarded as [unknown, unknown];
          json[field] = first;
          if (prompt && typeof json.suffix === 'string') json.suffix = other;
          if (!prompt && Array.isArray(other)) {
            let next = 0;
            json.messages = mapJsonStrings(json.messages, () => other[next++] as string);
          }
          ctx.body = rewrittenBody(ctx, json);
        }
        return;
      }
      if (kind === 'oip.infer' && ctx.principal) {
        // Text tensors are prompts like chat messages are: injection, PII and secrets apply.
        const texts = bytesTensors(json.inputs);
        const data = await guardTexts(ctx, texts.map((t) => t.data), { injection: true, external: false });
        if (data !== null) {
          texts.forEach((t, i) => (t.data = (data as unknown[])[i]));
          ctx.body = rewrittenBody(ctx, json);
        }
        // Feature rows (OOD, drift, extraction) come from the first numeric [N, d] input. A request
        // without one (an image, a text model) skips the row detectors, unless the model has a
        // fitted profile: then what the operator asked to check cannot be, and it is refused. It
        // still spends the extraction query budget, one query per item of its batch.
        const rows = oipRows(json);
        if (!Array.isArray(rows)) {
          if (detectors.expectsRows(modelOf(ctx))) throw new WardenError('WARDEN_DETECT_INPUT_SHAPE', `${rows.unfit}, as the profile of model ${modelOf(ctx)} expects`);
          const verdicts = detectors.inspectOpaqueInference(principalOf(ctx), modelOf(ctx), batchSize(json));
          addVerdicts(ctx, verdicts);
          throwIfBlocked(verdicts);
          return;
        }
        const verdicts = detectors.inspectInference(principalOf(ctx), modelOf(ctx), rows);
        addVerdicts(ctx, verdicts);
        throwIfBlocked(verdicts);
        oipInputs.set(ctx, rows);
      }
    },

    wantsResponse(ctx) {
      const kind = ctx.route?.kind;
      return kind === 'oip.infer' || kind === 'openai.chat' || kind === 'openai.completions';
    },

    transformJson(ctx, body) {
      const kind = ctx.route?.kind;
      if (kind === 'oip.infer') {
        const rows = oipInputs.get(ctx);
        const labels = oipLabels(body, rows?.length ?? (ctx.json ? batchSize(ctx.json) : 1));
        // Feedback labels one prediction: a batch answer leaves `predicted` to the client.
        if (labels?.length === 1) answerLabels.set(ctx, labels[0]!);
        if (rows && ctx.principal) {
          if (labels) {
            const verdicts = detectors.observePrediction(principalOf(ctx), modelOf(ctx), rows, labels);
            addVerdicts(ctx, verdicts);
            // The answer that completed the evidence is withheld too.
            throwIfBlocked(verdicts);
          }
        }
        // Text outputs reach the client like completions do.
        const texts = bytesTensors((body as { outputs?: unknown } | null)?.outputs);
        if (texts.length > 0) {
          const all: Verdict[] = [];
          let changed = false;
          const checks = createScanBudget();
          for (const t of texts) {
            t.data = mapStrings(t.data, (s) => {
              const g = detectors.guardCompletion(s, checks);
              all.push(...g.verdicts);
              if (g.text !== s) changed = true;
              return g.text;
            });
          }
          addVerdicts(ctx, all);
          throwIfBlocked(all);
          // A new object: the gateway re-serialises an answer only when the guards returned another one.
          if (changed) body = { ...(body as object) };
        }
        const outOfDistribution = ctx.verdicts?.some((v) => v.detector === 'ood' || v.detector === 'range') === true;
        return body && typeof body === 'object' && Array.isArray((body as { outputs?: unknown }).outputs) ? detectors.hardenOutput(modelOf(ctx), body as { outputs: [] }, { outOfDistribution }) : body;
      }
      if (kind === 'openai.chat' || kind === 'openai.completions') {
        const choices = (body as { choices?: CompletionChoice[] } | undefined)?.choices;
        if (!Array.isArray(choices)) return body;
        const all: Verdict[] = [];
        // One budget of expensive checks for the whole answer (every choice and field).
        const checks = createScanBudget();
        const guard = (text: string): string => {
          const g = detectors.guardCompletion(text, checks);
          if (g.verdicts.length > 0) all.push(...g.verdicts);
          return g.text;
        };
        // Copies only what a guard changed (this runs on every answer): `out` is made on the first
        // change. A redacted choice loses its `logprobs`: they spell out the same text token by
        // token, where the guard cannot see it.
        let out: CompletionChoice[] | null = null;
        for (let i = 0; i < choices.length; i++) {
          const c = choices[i]!;
          const guarded = guardChoice(c, guard);
          if (guarded !== c) (out ??= choices.slice())[i] = guarded;
        }
        addVerdicts(ctx, all);
        throwIfBlocked(all);
        return out ? { ...(body as object), choices: out } : body;
      }
      return body;
    },

    guardErrorText(ctx, text) {
      const g = detectors.guardCompletion(text);
      addVerdicts(ctx, g.verdicts);
      throwIfBlocked(g.verdicts);
      return g.text;
    },

    predictionServed(ctx) {
      const kind = ctx.route?.kind;
      if (!ctx.principal || !kind || !PREDICTION_ROUTES.has(kind)) return;
      detectors.predictions.record(ctx.requestId, { principal: principalOf(ctx), model: modelOf(ctx), predicted: answerLabels.get(ctx) });
    },

    recordFeedback(ctx) {
      const f = parseFeedback(ctx.json);
      // Only a prediction this gateway served to this caller, for this model, can be labelled, and
      // only once: otherwise any invoker could fake an accuracy drop (and the runbook bound to it)
      // for a healthy model, or hide a real one.
      const served = detectors.predictions.get(f.requestId);
      if (!served || !ctx.principal || served.principal !== principalOf(ctx) || served.model !== f.model) {
        throw new WardenError('WARDEN_DETECT_FEEDBACK_UNKNOWN_REQUEST', `no prediction of model ${JSON.stringify(f.model)} was served to this caller under request id ${JSON.stringify(f.requestId)} (or it expired)`, { param: 'requestId' });
      }
      if (served.labelled) throw new WardenError('WARDEN_DETECT_FEEDBACK_DUPLICATE', `feedback for request id ${JSON.stringify(f.requestId)} was already taken`, { param: 'requestId' });
      let predicted = f.predicted;
      if (served.predicted !== undefined) {
        if (predicted !== undefined && String(predicted) !== String(served.predicted)) {
          throw new WardenError('WARDEN_DETECT_FEEDBACK_INVALID', `predicted: the model answered ${served.predicted} to request ${JSON.stringify(f.requestId)}`, { param: 'predicted' });
        }
        predicted = served.predicted;
      }
      if (predicted === undefined) throw new WardenError('WARDEN_DETECT_FEEDBACK_INVALID', 'predicted: required, the gateway could not read one label from the answer to this request', { param: 'predicted' });
      served.labelled = true;
      return detectors.recordFeedback(f.model, predicted, f.actual);
    },

    streamTransformer(ctx) {
      const kind = ctx.route?.kind;
      if (kind !== 'openai.chat' && kind !== 'openai.completions') return null;
      // Every redactor of one stream (one per choice and field) draws on the same budget.
      let checks = streamBudgets.get(ctx);
      if (!checks) streamBudgets.set(ctx, (checks = createScanBudget()));
      const r = detectors.createStreamRedactor(checks);
      if (!r) return null;
      return {
        push: (text) => r.push(text),
        flush: () => {
          const rest = r.flush();
          const kinds = r.kinds;
          const pii = kinds.filter((k) => !secretKinds.has(k));
          const secrets = kinds.filter((k) => secretKinds.has(k));
          if (pii.length) addVerdicts(ctx, [{ detector: 'pii', action: 'redact', kinds: pii, source: 'completion' }]);
          if (secrets.length) addVerdicts(ctx, [{ detector: 'secrets', action: 'redact', kinds: secrets, source: 'completion' }]);
          return rest;
        },
      };
    },
  };
}
