/**
 * Prompt size in tokens, estimated before the call as characters / 4 (OpenAI's rule of thumb
 * for English; BPE tokenizers average 3.5-4.5 characters per token). Deliberately not a real
 * tokenizer: it runs on every request, needs no per-model vocabulary, and the estimate is
 * corrected from the upstream's `usage` after the call (RateLimitPolicy.correctTokens).
 * Counts message `content` (string or text parts), `prompt` and embedding `input`
 * (strings, string arrays; token-id arrays count one token per element), plus 4 tokens of
 * framing per message.
 */
export function estimatePromptTokens(body: Record<string, unknown> | null): number {
  if (!body) return 0;
  let chars = 0;
  let tokens = 0;
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
          if (typeof part === 'object' && part !== null && typeof (part as { text?: unknown }).text === 'string') chars += (part as { text: string }).text.length;
        }
      }
    }
  }
  tokens += countInput(body.prompt) + countInput(body.input);
  return tokens + Math.ceil(chars / 4);
}

function countInput(v: unknown): number {
  if (typeof v === 'string') return Math.ceil(v.length / 4);
  if (!Array.isArray(v)) return 0;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i];
    if (typeof x === 'string') n += Math.ceil(x.length / 4);
    else if (typeof x === 'number') n += 1;
    else if (Array.isArray(x)) n += x.length;
  }
  return n;
}
