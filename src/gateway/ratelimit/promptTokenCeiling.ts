import { isMediaPart } from './estimatePromptTokens.js';

/**
 * Tokens a chat template or a server adds around the request's own text (role markers, a
 * default system prompt such as Llama 3.1's date header, tool-use instructions).
 */
const TEMPLATE_TOKENS = 1024;

/**
 * Most tokens one media part (MEDIA_PART_TYPES) may cost: an image, audio clip, video or a file
 * by id or URL is a few bytes of JSON but can fill a context window; 2^20 = the largest context
 * windows offered today (1M tokens).
 */
export const MEDIA_PART_CEILING_TOKENS = 1_048_576;

/**
 * Most prompt tokens a call can have used, from what the gateway itself measured rather than
 * what the client asked: byte-level BPE and byte-fallback tokenizers cover at least one UTF-8
 * byte of text per token, and every byte of text the model reads is at least one byte of the
 * request body (JSON escapes only add bytes; compressed bodies are refused), so the body's size
 * bounds the text; plus TEMPLATE_TOKENS, plus MEDIA_PART_CEILING_TOKENS per media part.
 * Bounds the upstream's reported `usage` (RateLimitPolicy), so a client cannot lower it below
 * what the model really read, only raise it by sending more.
 */
export function promptTokenCeiling(body: Record<string, unknown>, bodyBytes: number): number {
  let media = 0;
  const messages = body.messages;
  if (Array.isArray(messages)) {
    for (let i = 0; i < messages.length; i++) {
      const content = (messages[i] as { content?: unknown } | null)?.content;
      if (!Array.isArray(content)) continue;
      for (let j = 0; j < content.length; j++) if (isMediaPart(content[j])) media++;
    }
  }
  return bodyBytes + TEMPLATE_TOKENS + media * MEDIA_PART_CEILING_TOKENS;
}
