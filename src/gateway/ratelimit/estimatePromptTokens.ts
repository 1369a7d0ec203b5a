/**
 * Prompt size in tokens, estimated before the call as characters / 4 (OpenAI's rule of thumb
 * for English; BPE tokenizers average 3.5-4.5 characters per token). Deliberately not a real
 * tokenizer: it runs on every request, needs no per-model vocabulary, and the estimate is
 * corrected from the upstream's `usage` after the call (RateLimitPolicy.correctTokens).
 * Counts message `content` (a string, or parts: a media part — MEDIA_PART_TYPES — counts
 * MEDIA_PART_TOKENS, any other part every string in it but its `type`, so a `refusal`,
 * `thinking` or `input_text` part is text like a `text` part), a message's MODEL_TEXT_FIELDS
 * (a model may be shown its earlier reasoning and refusals), assistant `tool_calls` arguments,
 * `prompt` and embedding `input` (strings, string arrays; token-id arrays count one token per
 * element), the `tools` / `functions` definitions (as JSON text: the model reads them too),
 * plus 4 tokens of framing per message.
 */
export function estimatePromptTokens(body: Record<string, unknown> | null): number {
  if (!body) return 0;
  let chars = 0;
  let tokens = 0;
  if (body.tools !== undefined) chars += jsonLength(body.tools);
  if (body.functions !== undefined) chars += jsonLength(body.functions);
  const messages = body.messages;
  if (Array.isArray(messages)) {
    for (let i = 0; i < messages.length; i++) {
      const m: unknown = messages[i];
      tokens += 4;
      if (typeof m !== 'object' || m === null) continue;
      const content = (m as { content?: unknown }).content;
      if (typeof content === 'string') chars += content.length;
      else if (Array.isArray(content)) {
        for (let j = 0; j < content.length; j++) {
          const part: unknown = content[j];
          if (typeof part === 'string') chars += part.length;
          else if (typeof part === 'object' && part !== null && !isMediaPart(part)) chars += partTextChars(part as Record<string, unknown>);
          else tokens += MEDIA_PART_TOKENS;
        }
      }
      // MODEL_TEXT_FIELDS, read by name: a loop over the list costs more than the rest of the message.
      const { reasoning_content: rc, reasoning: r, refusal: rf } = m as MessageText;
      if (typeof rc === 'string') chars += rc.length;
      if (typeof r === 'string') chars += r.length;
      if (typeof rf === 'string') chars += rf.length;
      const calls = (m as { tool_calls?: unknown }).tool_calls;
      if (Array.isArray(calls)) {
        for (const c of calls as { function?: { arguments?: unknown } }[]) if (typeof c?.function?.arguments === 'string') chars += c.function.arguments.length;
      }
    }
  }
  tokens += countInput(body.prompt) + countInput(body.input);
  return tokens + tokensFromChars(chars);
}

/** An image or audio part: OpenAI's price of a low-detail image; the upstream's `usage` corrects it. */
const MEDIA_PART_TOKENS = 85;

/**
 * Content part types whose payload is an image, audio, video or file rather than text (OpenAI
 * Chat and Responses, vLLM): a base64 image is far fewer tokens than its characters / 4.
 */
const MEDIA_PART_TYPES: ReadonlySet<string> = new Set(['image_url', 'input_image', 'image', 'image_embeds', 'input_audio', 'audio_url', 'audio', 'video_url', 'video', 'file', 'input_file']);

/** Whether a content part is media (MEDIA_PART_TYPES) by its `type`. */
export function isMediaPart(part: unknown): boolean {
  if (typeof part !== 'object' || part === null) return false;
  const type = (part as { type?: unknown }).type;
  return typeof type === 'string' && MEDIA_PART_TYPES.has(type);
}

/**
 * Characters of every string in a non-media content part, at any depth, except its `type`:
 * servers render parts this gateway does not know (`refusal`, `thinking`, `input_text`, …) as
 * text, so none is free. Walked with a stack, not recursion: the body is not validated yet and
 * may nest deeper than the call stack.
 */
function partTextChars(part: Record<string, unknown>): number {
  let chars = 0;
  const stack: unknown[] = [];
  for (const k in part) if (k !== 'type') stack.push(part[k]);
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') chars += v.length;
    else if (Array.isArray(v)) for (let i = 0; i < v.length; i++) stack.push(v[i]);
    else if (typeof v === 'object' && v !== null) for (const k in v) stack.push((v as Record<string, unknown>)[k]);
  }
  return chars;
}

function jsonLength(v: unknown): number {
  try {
    return JSON.stringify(v)?.length ?? 0;
  } catch {
    return 0;
  }
}

function countInput(v: unknown): number {
  if (typeof v === 'string') return tokensFromChars(v.length);
  if (!Array.isArray(v)) return 0;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i];
    if (typeof x === 'string') n += tokensFromChars(x.length);
    else if (typeof x === 'number') n += 1;
    else if (Array.isArray(x)) n += x.length;
  }
  return n;
}

/** Model text in a message or delta besides `content`: reasoning (DeepSeek, vLLM) and refusals. estimatePromptTokens reads each by name. */
export const MODEL_TEXT_FIELDS = ['reasoning_content', 'reasoning', 'refusal'] as const;

type MessageText = { content?: unknown; tool_calls?: unknown; function_call?: { arguments?: unknown } } & Partial<Record<(typeof MODEL_TEXT_FIELDS)[number], unknown>>;
type ChoiceText = { message?: MessageText; delta?: MessageText; text?: unknown };

/**
 * Characters of completion text in one answer or stream chunk (`choices[].message|delta`
 * content, MODEL_TEXT_FIELDS, tool-call and legacy function-call arguments, or legacy `text`):
 * what completion tokens are estimated from when the upstream reports no `usage`, so a
 * completion is never free.
 */
export function completionChars(answer: unknown): number {
  const choices = (answer as { choices?: unknown } | null)?.choices;
  if (!Array.isArray(choices)) return 0;
  let chars = 0;
  for (const c of choices as ChoiceText[]) {
    if (!c || typeof c !== 'object') continue;
    if (typeof c.text === 'string') chars += c.text.length;
    const m = c.message ?? c.delta;
    if (!m || typeof m !== 'object') continue;
    if (typeof m.content === 'string') chars += m.content.length;
    for (const field of MODEL_TEXT_FIELDS) {
      const text = m[field];
      if (typeof text === 'string') chars += text.length;
    }
    if (typeof m.function_call?.arguments === 'string') chars += m.function_call.arguments.length;
    if (Array.isArray(m.tool_calls)) {
      for (const t of m.tool_calls as { function?: { arguments?: unknown } }[]) if (typeof t?.function?.arguments === 'string') chars += t.function.arguments.length;
    }
  }
  return chars;
}

/** Tokens in `chars` characters of text, by the rule of thumb above (characters / 4); prompts and completions alike. */
export function tokensFromChars(chars: number): number {
  return Math.ceil(chars / 4);
}
