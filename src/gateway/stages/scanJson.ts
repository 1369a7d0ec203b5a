import { foldKey } from '../validate/foldKey.js';

export interface JsonScan {
  tooDeep: boolean;
  /** The first object key that appears twice in one object (decoded; folded in protocol objects, see foldKey), or null. */
  duplicateKey: string | null;
}

const WS = new Set([32, 9, 10, 13]);
/** Keys an object keeps in a list; past this a Set (a list is faster for the usual small objects, quadratic for a huge one). */
const LIST_KEYS = 16;

/**
 * What a container is in the request protocols (all routes at once: their top-level keys do not
 * clash). Objects of a protocol role compare keys folded; FREE ones (metadata, tool parameter
 * schemas, response_format, OIP input parameters, tensor data…) compare them exactly.
 */
type Role = number;
const FREE = 0;
const ROOT = 1;
const MESSAGES = 2;
const MESSAGE = 3;
const PARTS = 4;
const PART = 5;
const CALLS = 6;
const CALL = 7;
const TOOLS = 8;
const TOOL = 9;
const FUNCTIONS = 10;
const FUNCTION = 11;
const INPUTS = 12;
const INPUT = 13;
const OUTPUTS = 14;
const OUTPUT = 15;
/** OIP request and output `parameters`: the gateway reads binary_data_output / binary_data there. */
const OIP_PARAMETERS = 16;

/** Role of the container that is the value of `key` (folded) in an object of role `parent`. */
function valueRole(parent: Role, key: string): Role {
  switch (parent) {
    case ROOT:
      switch (key) {
        case 'messages':
          return MESSAGES;
        case 'tools':
          return TOOLS;
        case 'functions':
          return FUNCTIONS;
        case 'inputs':
          return INPUTS;
        case 'outputs':
          return OUTPUTS;
        case 'parameters':
          return OIP_PARAMETERS;
        default:
          return FREE;
      }
    case MESSAGE:
      return key === 'content' ? PARTS : key === 'tool_calls' ? CALLS : FREE;
    case CALL:
    case TOOL:
      // The function object itself; its `parameters` (a user's JSON Schema) are FREE.
      return key === 'function' ? FUNCTION : FREE;
    case OUTPUT:
      return key === 'parameters' ? OIP_PARAMETERS : FREE;
    default:
      return FREE;
  }
}

/** Role of an element of an array of role `parent`. */
function elementRole(parent: Role): Role {
  switch (parent) {
    case MESSAGES:
      return MESSAGE;
    case PARTS:
      return PART;
    case CALLS:
      return CALL;
    case TOOLS:
      return TOOL;
    case FUNCTIONS:
      return FUNCTION;
    case INPUTS:
      return INPUT;
    case OUTPUTS:
      return OUTPUT;
    default:
      return FREE;
  }
}

/**
 * One pass over a request body before JSON.parse: nesting depth and duplicate object keys.
 * Duplicate keys are refused because parsers disagree on which one wins (JSON.parse keeps the
 * last; others keep the first or fail): the gateway would authorize, route and inspect one value
 * while the model server acted on another. RFC 7493 (I-JSON) forbids them for this reason.
 * In protocol objects (the top level, messages, content parts, tool calls, tools and their
 * function objects, OIP inputs and outputs) keys are compared folded (foldKey): "model" and
 * "Model" are two keys to JSON.parse but one to a Go model server, which would act on whichever
 * came last. Elsewhere (metadata, JSON Schemas, …) they are compared exactly: there keys differing
 * in case are the client's own data ({"ETag":…, "etag":…}), which the gateway does not act on.
 * Hand-written: JSON.parse hides duplicates, and a full streaming parser costs several times
 * this scan on every request. It needs to be exact for valid JSON only (JSON.parse still
 * validates) and bounded and throw-free for anything else.
 */
export function scanJson(text: string, maxDepth: number): JsonScan {
  // Per open container: the keys seen so far (objects) or null (arrays), and its role.
  const open: (string[] | Set<string> | null)[] = [];
  const roles: Role[] = [];
  // Role of the value of the key last read in the innermost object: a container opened in an
  // object always follows its key.
  let next = FREE;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      const start = i;
      i = closingQuote(text, i + 1);
      const keys = open.length > 0 ? open[open.length - 1] : null;
      if (!keys) continue;
      let j = i + 1;
      while (j < text.length && WS.has(text.charCodeAt(j))) j++;
      if (text.charCodeAt(j) !== 58 /* : */) continue;
      const raw = text.slice(start + 1, i);
      const decoded = raw.includes('\\') ? decodeKey(`"${raw}"`) : raw;
      if (decoded === null) continue;
      const role = roles[roles.length - 1]!;
      const key = role === FREE ? decoded : foldKey(decoded);
      next = role === FREE ? FREE : valueRole(role, key);
      if (Array.isArray(keys)) {
        if (keys.includes(key)) return { tooDeep: false, duplicateKey: key };
        if (keys.length < LIST_KEYS) keys.push(key);
        else open[open.length - 1] = new Set(keys).add(key);
      } else {
        if (keys.has(key)) return { tooDeep: false, duplicateKey: key };
        keys.add(key);
      }
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      const parent = open.length === 0 ? undefined : open[open.length - 1];
      roles.push(parent === undefined ? ROOT : parent === null ? elementRole(roles[roles.length - 1]!) : next);
      open.push(c === 123 ? [] : null);
      if (open.length > maxDepth) return { tooDeep: true, duplicateKey: null };
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      open.pop();
      roles.pop();
    }
  }
  return { tooDeep: false, duplicateKey: null };
}

/** Index of the quote that ends the string whose body starts at `from` (text.length if none); indexOf keeps long strings cheap. */
function closingQuote(text: string, from: number): number {
  for (let q = text.indexOf('"', from); q !== -1; q = text.indexOf('"', q + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(q - 1 - backslashes) === 92) backslashes++;
    if (backslashes % 2 === 0) return q;
  }
  return text.length;
}

/** "mo\u0064el" and "model" are the same key. */
function decodeKey(quoted: string): string | null {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return null;
  }
}
