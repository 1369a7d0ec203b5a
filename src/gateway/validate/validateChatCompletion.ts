import { arr, bool, checkFields, choices, fail, int, isObject, nonEmptyStr, obj, oneOf, refuseCaseVariants, str, typeName, type FieldCheck, type ValidationLimits } from './checks.js';
import { commonGenerationFields, maxTokens, shortString, boolean, object } from './openaiCommonFields.js';

const ROLES = choices(['system', 'user', 'assistant', 'tool', 'developer', 'function']);
const DETAIL = choices(['auto', 'low', 'high']);
const TOOL_CHOICE = choices(['none', 'auto', 'required']);
const MAX_TOOLS = 128;
const MAX_NAME = 256;

/** Keys of nested objects, for refuseCaseVariants: "Content" beside "content" must not slip past the guards. */
export const MESSAGE_FIELDS: ReadonlySet<string> = new Set(['role', 'content', 'name', 'tool_calls', 'tool_call_id', 'function_call', 'refusal', 'audio', 'reasoning_content', 'reasoning']);
/** Message text besides content that chat templates render (the guards read these as strings only). */
const MESSAGE_TEXT_FIELDS = ['refusal', 'reasoning_content', 'reasoning'] as const;
export const PART_FIELDS: ReadonlySet<string> = new Set(['type', 'text', 'image_url', 'input_audio', 'file', 'refusal', 'thinking', 'audio_url', 'video_url']);

/** Part types whose text the model reads, and the field that holds it (vLLM renders each in every role). */
const TEXT_PART_FIELD: ReadonlyMap<string, string> = new Map([
  ['text', 'text'],
  ['input_text', 'text'],
  ['output_text', 'text'],
  ['refusal', 'refusal'],
  ['thinking', 'thinking'],
]);
/** Media parts: no text for the guards to read, the model server decodes them. */
const MEDIA_PARTS: ReadonlySet<string> = new Set(['image_url', 'input_image', 'input_audio', 'audio_url', 'video_url', 'file']);
const KNOWN_PARTS = [...TEXT_PART_FIELD.keys(), ...MEDIA_PARTS].join(', ');
export const TOOL_FIELDS: ReadonlySet<string> = new Set(['id', 'type', 'function', 'custom']);
export const FUNCTION_FIELDS: ReadonlySet<string> = new Set(['name', 'arguments', 'description', 'parameters', 'strict']);

/**
 * Content parts. `textOnly` roles (system, developer, tool) accept only text parts. A part of a
 * type this gateway does not know is refused (fail closed): a model server may render its text
 * (or embeddings: image_embeds, prompt_embeds) into the prompt where the guards never looked.
 */
function checkParts(parts: unknown[], i: number, textOnly: boolean, limits: ValidationLimits): void {
  for (let j = 0; j < parts.length; j++) {
    const p: unknown = parts[j];
    if (!isObject(p)) fail(`messages[${i}].content[${j}]`, `expected an object, got ${typeName(p)}`);
    refuseCaseVariants(p, PART_FIELDS, `messages[${i}].content[${j}].`);
    const type = p.type;
    if (typeof type !== 'string') fail(`messages[${i}].content[${j}].type`, `expected a string, got ${typeName(type)}`);
    if (type === 'text') {
      const e = str(p.text, limits.maxStringLength);
      if (e) fail(`messages[${i}].content[${j}].text`, e);
      continue;
    }
    if (!TEXT_PART_FIELD.has(type) && !MEDIA_PARTS.has(type)) fail(`messages[${i}].content[${j}].type`, `unknown content part type; expected one of ${KNOWN_PARTS}`);
    if (textOnly) fail(`messages[${i}].content[${j}].type`, 'expected "text" for this role');
    const textField = TEXT_PART_FIELD.get(type);
    if (textField !== undefined) {
      const e = str(p[textField], limits.maxStringLength);
      if (e) fail(`messages[${i}].content[${j}].${textField}`, e);
      continue;
    }
    if (type === 'image_url') {
      const img = p.image_url;
      if (!isObject(img)) fail(`messages[${i}].content[${j}].image_url`, `expected an object, got ${typeName(img)}`);
      const e = nonEmptyStr(img.url, limits.maxStringLength);
      if (e) fail(`messages[${i}].content[${j}].image_url.url`, e);
      if (img.detail != null && oneOf(img.detail, DETAIL.set, DETAIL.listed)) fail(`messages[${i}].content[${j}].image_url.detail`, `expected one of ${DETAIL.listed}`);
    } else if (type === 'input_audio') {
      const a = p.input_audio;
      if (!isObject(a)) fail(`messages[${i}].content[${j}].input_audio`, `expected an object, got ${typeName(a)}`);
      const e = str(a.data, limits.maxStringLength) ?? str(a.format, 32);
      if (e) fail(`messages[${i}].content[${j}].input_audio`, e);
    } else if (type === 'file') {
      const f = p.file;
      if (!isObject(f)) fail(`messages[${i}].content[${j}].file`, `expected an object, got ${typeName(f)}`);
      for (const k of ['file_data', 'file_id', 'filename']) {
        if (f[k] == null) continue;
        const e = str(f[k], limits.maxStringLength);
        if (e) fail(`messages[${i}].content[${j}].file.${k}`, e);
      }
    }
  }
}

function checkContent(m: Record<string, unknown>, i: number, role: string, limits: ValidationLimits): void {
  const c = m.content;
  if (typeof c === 'string') {
    if (c.length > limits.maxStringLength) fail(`messages[${i}].content`, `string longer than ${limits.maxStringLength} characters`);
    return;
  }
  if (c === null || c === undefined) {
    // An assistant turn may carry only tool calls; a function result may be null.
    if (role === 'assistant' || role === 'function') return;
    fail(`messages[${i}].content`, 'is required');
  }
  if (!Array.isArray(c)) fail(`messages[${i}].content`, `expected a string or an array of content parts, got ${typeName(c)}`);
  if (c.length > limits.maxMessages) fail(`messages[${i}].content`, `more than ${limits.maxMessages} parts`);
  checkParts(c, i, role === 'system' || role === 'developer' || role === 'tool', limits);
}

function checkToolCalls(v: unknown, i: number, limits: ValidationLimits): void {
  if (!Array.isArray(v)) fail(`messages[${i}].tool_calls`, `expected an array, got ${typeName(v)}`);
  if (v.length > MAX_TOOLS) fail(`messages[${i}].tool_calls`, `more than ${MAX_TOOLS} items`);
  for (let j = 0; j < v.length; j++) {
    const call: unknown = v[j];
    if (!isObject(call)) fail(`messages[${i}].tool_calls[${j}]`, `expected an object, got ${typeName(call)}`);
    refuseCaseVariants(call, TOOL_FIELDS, `messages[${i}].tool_calls[${j}].`);
    let e = str(call.id, MAX_NAME);
    if (e) fail(`messages[${i}].tool_calls[${j}].id`, e);
    e = str(call.type, 64);
    if (e) fail(`messages[${i}].tool_calls[${j}].type`, e);
    if (call.type === 'function') {
      const f = call.function;
      if (!isObject(f)) fail(`messages[${i}].tool_calls[${j}].function`, `expected an object, got ${typeName(f)}`);
      refuseCaseVariants(f, FUNCTION_FIELDS, `messages[${i}].tool_calls[${j}].function.`);
      e = nonEmptyStr(f.name, MAX_NAME);
      if (e) fail(`messages[${i}].tool_calls[${j}].function.name`, e);
      e = str(f.arguments, limits.maxStringLength);
      if (e) fail(`messages[${i}].tool_calls[${j}].function.arguments`, e);
    } else if (call.type === 'custom') {
      const c = call.custom;
      if (!isObject(c)) fail(`messages[${i}].tool_calls[${j}].custom`, `expected an object, got ${typeName(c)}`);
      e = nonEmptyStr(c.name, MAX_NAME) ?? str(c.input, limits.maxStringLength);
      if (e) fail(`messages[${i}].tool_calls[${j}].custom`, e);
    }
  }
}

const messages: FieldCheck = (v, limits) => {
  if (!Array.isArray(v)) return `expected an array, got ${typeName(v)}`;
  if (v.length === 0) return 'must contain at least one message';
  if (v.length > limits.maxMessages) return `more than ${limits.maxMessages} messages`;
  for (let i = 0; i < v.length; i++) {
    const m: unknown = v[i];
    if (!isObject(m)) fail(`messages[${i}]`, `expected an object, got ${typeName(m)}`);
    refuseCaseVariants(m, MESSAGE_FIELDS, `messages[${i}].`);
    const role = m.role;
    if (oneOf(role, ROLES.set, ROLES.listed)) fail(`messages[${i}].role`, `expected one of ${ROLES.listed}`);
    checkContent(m, i, role as string, limits);
    for (const field of MESSAGE_TEXT_FIELDS) {
      if (m[field] == null) continue;
      const e = str(m[field], limits.maxStringLength);
      if (e) fail(`messages[${i}].${field}`, e);
    }
    if (m.name != null) {
      const e = str(m.name, MAX_NAME);
      if (e) fail(`messages[${i}].name`, e);
    }
    if (role === 'tool') {
      const e = nonEmptyStr(m.tool_call_id, MAX_NAME);
      if (e) fail(`messages[${i}].tool_call_id`, e);
    } else if (role === 'assistant') {
      if (m.tool_calls != null) checkToolCalls(m.tool_calls, i, limits);
    } else if (role === 'function') {
      const e = nonEmptyStr(m.name, MAX_NAME);
      if (e) fail(`messages[${i}].name`, e);
    }
  }
  return null;
};

const tools: FieldCheck = (v, limits) => {
  const e0 = arr(v, MAX_TOOLS);
  if (e0) return e0;
  const list = v as unknown[];
  for (let i = 0; i < list.length; i++) {
    const t: unknown = list[i];
    if (!isObject(t)) fail(`tools[${i}]`, `expected an object, got ${typeName(t)}`);
    refuseCaseVariants(t, TOOL_FIELDS, `tools[${i}].`);
    const e = str(t.type, 64);
    if (e) fail(`tools[${i}].type`, e);
    if (t.type === 'function') {
      const f = t.function;
      if (!isObject(f)) fail(`tools[${i}].function`, `expected an object, got ${typeName(f)}`);
      refuseCaseVariants(f, FUNCTION_FIELDS, `tools[${i}].function.`);
      let fe = nonEmptyStr(f.name, MAX_NAME);
      if (fe) fail(`tools[${i}].function.name`, fe);
      if (f.description != null && (fe = str(f.description, limits.maxStringLength))) fail(`tools[${i}].function.description`, fe);
      if (f.parameters != null && (fe = obj(f.parameters))) fail(`tools[${i}].function.parameters`, fe);
      if (f.strict != null && (fe = bool(f.strict))) fail(`tools[${i}].function.strict`, fe);
    } else if (t.type === 'custom') {
      const c = t.custom;
      if (!isObject(c)) fail(`tools[${i}].custom`, `expected an object, got ${typeName(c)}`);
      const ce = nonEmptyStr(c.name, MAX_NAME);
      if (ce) fail(`tools[${i}].custom.name`, ce);
    }
  }
  return null;
};

const toolChoice: FieldCheck = (v) => {
  if (typeof v === 'string') return oneOf(v, TOOL_CHOICE.set, TOOL_CHOICE.listed);
  if (!isObject(v)) return `expected a string or an object, got ${typeName(v)}`;
  const e = str(v.type, 64);
  if (e) fail('tool_choice.type', e);
  if (v.type === 'function') {
    const f = v.function;
    if (!isObject(f)) fail('tool_choice.function', `expected an object, got ${typeName(f)}`);
    const fe = nonEmptyStr(f.name, MAX_NAME);
    if (fe) fail('tool_choice.function.name', fe);
  }
  return null;
};

const functionCall: FieldCheck = (v) => {
  if (typeof v === 'string') return str(v, MAX_NAME);
  if (!isObject(v)) return `expected a string or an object, got ${typeName(v)}`;
  const e = nonEmptyStr(v.name, MAX_NAME);
  if (e) fail('function_call.name', e);
  return null;
};

const responseFormat: FieldCheck = (v) => {
  if (!isObject(v)) return `expected an object, got ${typeName(v)}`;
  const e = str(v.type, 64);
  if (e) fail('response_format.type', e);
  if (v.type === 'json_schema') {
    const s = v.json_schema;
    if (!isObject(s)) fail('response_format.json_schema', `expected an object, got ${typeName(s)}`);
    const ne = nonEmptyStr(s.name, 64);
    if (ne) fail('response_format.json_schema.name', ne);
    if (s.schema != null && obj(s.schema)) fail('response_format.json_schema.schema', `expected an object, got ${typeName(s.schema)}`);
    if (s.strict != null && bool(s.strict)) fail('response_format.json_schema.strict', `expected a boolean, got ${typeName(s.strict)}`);
  }
  return null;
};

const stringArray: FieldCheck = (v) => {
  const e = arr(v, 16);
  if (e) return e;
  for (const x of v as unknown[]) if (typeof x !== 'string') return `expected an array of strings, found ${typeName(x)}`;
  return null;
};

export const chatCompletionFields: ReadonlyMap<string, FieldCheck> = new Map<string, FieldCheck>([
  ...commonGenerationFields,
  ['messages', messages],
  ['max_tokens', maxTokens(1)],
  ['max_completion_tokens', maxTokens(1)],
  ['logprobs', boolean],
  ['top_logprobs', (v) => int(v, 0, 20)],
  ['tools', tools],
  ['tool_choice', toolChoice],
  ['parallel_tool_calls', boolean],
  ['functions', (v) => arr(v, MAX_TOOLS)],
  ['function_call', functionCall],
  ['response_format', responseFormat],
  ['reasoning_effort', shortString],
  ['verbosity', shortString],
  ['modalities', stringArray],
  ['audio', object],
  ['prediction', object],
  ['web_search_options', object],
  ['prompt_cache_key', shortString],
  ['safety_identifier', shortString],
]);
const required = ['model', 'messages'];

/** POST /v1/chat/completions body (OpenAI Chat Completions API, as sent by the official SDKs). */
export function validateChatCompletion(body: Record<string, unknown>, limits: ValidationLimits): void {
  checkFields(body, chatCompletionFields, required, limits);
}
