import { WardenError } from '../errors/index.js';
import { entityToString } from '../policy/index.js';
import { guardCodeFor, messageText, type ChatMessage, type Detectors, type Verdict } from '../detect/index.js';
import type { GatewayGuards, RequestContext } from '../gateway/index.js';

const INPUT_ROWS = Symbol('warden.inputRows');

type WithRows = RequestContext & { [INPUT_ROWS]?: number[][] };

function record(ctx: RequestContext, verdicts: readonly Verdict[]): void {
  if (verdicts.length === 0) return;
  const out = (ctx.verdicts ??= []);
  for (const v of verdicts) out.push({ detector: v.detector, action: v.action, score: v.score, kinds: v.kinds });
}

function blockIfAny(verdicts: readonly Verdict[]): void {
  const block = verdicts.find((v) => v.action === 'block');
  if (block) throw new WardenError(guardCodeFor(block), `blocked by the ${block.detector} guard${block.kinds?.length ? ` (${block.kinds.join(', ')})` : ''}`);
}

/** OIP v2 request rows: inputs[0] with shape [N, F] and a flat (or nested) data array. */
function oipRows(json: Record<string, unknown> | null): number[][] | null {
  const input = (json?.inputs as { shape?: unknown; data?: unknown }[] | undefined)?.[0];
  if (!input || !Array.isArray(input.shape) || input.shape.length !== 2 || !Array.isArray(input.data)) return null;
  const [n, f] = input.shape as number[];
  const flat = (input.data as unknown[]).flat(Infinity) as number[];
  if (!Number.isInteger(n) || !Number.isInteger(f) || flat.length !== n! * f!) return null;
  return Array.from({ length: n! }, (_, i) => flat.slice(i * f!, (i + 1) * f!));
}

/** Labels from an OIP answer: the INT64 `label` output, or argmax of the first output. */
function oipLabels(body: unknown): number[] | null {
  const outputs = (body as { outputs?: { name?: string; shape?: number[]; data?: number[] }[] })?.outputs;
  if (!Array.isArray(outputs)) return null;
  const label = outputs.find((o) => o.name === 'label');
  if (label && Array.isArray(label.data)) return label.data.map(Number);
  const probs = outputs[0];
  if (!probs?.shape || probs.shape.length !== 2 || !Array.isArray(probs.data)) return null;
  const [n, k] = probs.shape as [number, number];
  return Array.from({ length: n }, (_, i) => {
    const row = probs.data!.slice(i * k, (i + 1) * k);
    return row.indexOf(Math.max(...row));
  });
}

/**
 * Adapts the detectors (src/detect) to the gateway's guard hooks: injection/PII/secrets on chat
 * input, OOD/extraction/budgets on OIP input, PRADA + output hardening on OIP answers, and
 * redaction of completions (also across SSE chunk boundaries).
 */
export function detectorGuards(detectors: Detectors): GatewayGuards {
  return {
    async inspectRequest(ctx: RequestContext): Promise<void> {
      const kind = ctx.route?.kind;
      const principal = ctx.principal ? entityToString(ctx.principal.entity) : 'anonymous';
      if (kind === 'openai.chat') {
        const messages = (ctx.json?.messages ?? []) as ChatMessage[];
        const verdicts = detectors.inspectChat(messages, kind);
        verdicts.push(...(await detectors.inspectChatExternal(messages, kind)));
        record(ctx, verdicts);
        blockIfAny(verdicts);
        if (verdicts.some((v) => v.action === 'redact')) {
          const redacted = detectors.redactChat(messages);
          ctx.json!.messages = redacted.messages;
          ctx.body = Buffer.from(JSON.stringify(ctx.json));
        }
      } else if (kind === 'oip.infer' && ctx.route?.model) {
        const rows = oipRows(ctx.json);
        if (!rows) return;
        (ctx as WithRows)[INPUT_ROWS] = rows;
        const verdicts = detectors.inspectInference(principal, ctx.route.model, rows);
        record(ctx, verdicts);
        blockIfAny(verdicts);
      }
    },
    wantsResponse(ctx: RequestContext): boolean {
      const kind = ctx.route?.kind;
      return kind === 'oip.infer' || kind === 'openai.chat' || kind === 'openai.completions';
    },
    transformJson(ctx: RequestContext, body: unknown): unknown {
      const kind = ctx.route?.kind;
      const model = ctx.route?.model;
      if (kind === 'oip.infer' && model) {
        const rows = (ctx as WithRows)[INPUT_ROWS];
        const labels = oipLabels(body);
        if (rows && labels && labels.length === rows.length) {
          const principal = ctx.principal ? entityToString(ctx.principal.entity) : 'anonymous';
          record(ctx, detectors.observePrediction(principal, model, rows, labels));
        }
        return detectors.hardenOutput(model, body as Parameters<Detectors['hardenOutput']>[1]);
      }
      if (kind === 'openai.chat' || kind === 'openai.completions') {
        const choices = (body as { choices?: { message?: { content?: unknown }; text?: unknown }[] })?.choices;
        if (!Array.isArray(choices)) return body;
        let changed = false;
        for (const c of choices) {
          const text = kind === 'openai.chat' ? messageText(c.message?.content) : typeof c.text === 'string' ? c.text : '';
          if (!text) continue;
          const guarded = detectors.guardCompletion(text);
          record(ctx, guarded.verdicts);
          blockIfAny(guarded.verdicts);
          if (guarded.text !== text) {
            if (kind === 'openai.chat' && c.message) c.message.content = guarded.text;
            else c.text = guarded.text;
            changed = true;
          }
        }
        return changed ? { ...(body as object) } : body;
      }
      return body;
    },
    streamTransformer(ctx: RequestContext) {
      const kind = ctx.route?.kind;
      if (kind !== 'openai.chat' && kind !== 'openai.completions') return null;
      return detectors.createStreamRedactor();
    },
  };
}
