import type { RandomSource } from '../io/RandomSource.js';
import type { ScanContext } from '../ScanContext.js';
import { checkKerasConfig } from './checkKerasConfig.js';
import { findTemplateInjection } from './findTemplateInjection.js';

/**
 * JSON files that ship with models: Keras configs (layers) and Hugging Face tokenizer configs
 * (`chat_template`, rendered with Jinja). Returns the more specific format name.
 */
export async function scanJson(src: RandomSource, ctx: ScanContext): Promise<string> {
  if (src.size > ctx.limits.maxJsonBytes) {
    ctx.add('scan/limit', 'low', `JSON file larger than ${ctx.limits.maxJsonBytes} bytes was not parsed`);
    return 'json';
  }
  let doc: unknown;
  try {
    doc = JSON.parse((await src.read(0, src.size)).toString('utf8'));
  } catch {
    return 'json';
  }
  if (doc === null || typeof doc !== 'object') return 'json';
  const o = doc as Record<string, unknown>;
  let format = 'json';
  const template = o.chat_template;
  const templates = typeof template === 'string' ? [template] : Array.isArray(template) ? template.map((t) => (t as { template?: unknown })?.template) : [];
  for (const t of templates) {
    if (typeof t !== 'string') continue;
    format = 'tokenizer-config';
    const why = findTemplateInjection(t);
    if (why) ctx.add('tokenizer/chat-template-code', 'critical', `chat_template contains template code that escapes the Jinja sandbox: ${why}`);
  }
  if (typeof o.class_name === 'string' && ('config' in o || 'module' in o)) {
    format = 'keras-config';
    checkKerasConfig(doc, ctx, 'config');
  }
  return format;
}
