import { isRequestModelName, MAX_MODEL_NAME_LENGTH } from '../modelName.js';

/** Which protocol operation a request is, and which model it addresses. */
export type RouteKind =
  | 'openai.chat'
  | 'openai.completions'
  | 'openai.embeddings'
  | 'openai.models'
  | 'openai.model'
  | 'oip.infer'
  | 'oip.model.metadata'
  | 'oip.model.ready'
  | 'oip.server'
  | 'feedback';

export interface RouteMatch {
  kind: RouteKind;
  /** Model named in the path (OIP) or, for OpenAI routes, filled from the body. */
  model: string | null;
  version: string | null;
  /** Whether the route carries a JSON body. */
  hasBody: boolean;
  method: 'GET' | 'POST';
  /**
   * openai.model: the model id asked about (decoded once), or null when it cannot name a model
   * (bad escape, too long). It is not `model`: the lookup is answered like the list, as 404 when
   * the caller may not invoke it, rather than authorized (403) like a call.
   */
  lookup?: string | null;
}

const MODEL_PREFIX = '/v1/models/';

/** The model id of /v1/models/{id}: one path segment, percent-decoded once (the SDK encodes ids like `org/model`). */
function modelLookup(segment: string): string | null {
  // Longer than 128 characters even if every one were escaped (%XX).
  if (segment.length > MAX_MODEL_NAME_LENGTH * 3) return null;
  let id: string;
  try {
    id = decodeURIComponent(segment);
  } catch {
    return null;
  }
  return isRequestModelName(id) ? id : null;
}

const OIP_MODEL = /^\/v2\/models\/([A-Za-z0-9._-]{1,128})(?:\/versions\/([A-Za-z0-9._-]{1,64}))?(\/infer|\/ready)?$/;

function isDotSegment(s: string): boolean {
  return s === '.' || s === '..';
}

/**
 * A number with leading zeros (`01`, `007`): Triton reads the version as an integer, so `01` would
 * reach version 1 while the policy saw `M@01`, around a forbid on `M@1`. Only the canonical form routes.
 */
function isNonCanonicalNumber(s: string): boolean {
  return s.length > 1 && s[0] === '0' && /^[0-9]+$/.test(s);
}

/** Methods a route answers (the `Allow` header of a 405): HEAD wherever GET is (RFC 9110 §9.3.2). */
export function allowedMethods(route: RouteMatch): string {
  return route.method === 'GET' ? 'GET, HEAD' : route.method;
}

/** Whether a route answers this method; HEAD is answered as GET without the body. */
export function allowsMethod(route: RouteMatch, method: string): boolean {
  return method === route.method || (method === 'HEAD' && route.method === 'GET');
}

/** Matches a path to a route; null when no route exists. Method mismatches return the route so a 405 can be given. */
export function matchRoute(path: string): RouteMatch | null {
  switch (path) {
    case '/v1/chat/completions':
      return { kind: 'openai.chat', model: null, version: null, hasBody: true, method: 'POST' };
    case '/v1/completions':
      return { kind: 'openai.completions', model: null, version: null, hasBody: true, method: 'POST' };
    case '/v1/embeddings':
      return { kind: 'openai.embeddings', model: null, version: null, hasBody: true, method: 'POST' };
    case '/v1/models':
      return { kind: 'openai.models', model: null, version: null, hasBody: false, method: 'GET' };
    case '/v1/feedback':
      return { kind: 'feedback', model: null, version: null, hasBody: true, method: 'POST' };
    case '/v2':
    case '/v2/health/live':
    case '/v2/health/ready':
      return { kind: 'oip.server', model: null, version: null, hasBody: false, method: 'GET' };
  }
  if (path.startsWith(MODEL_PREFIX)) {
    const segment = path.slice(MODEL_PREFIX.length);
    if (segment.length === 0 || segment.includes('/')) return null;
    return { kind: 'openai.model', model: null, version: null, hasBody: false, method: 'GET', lookup: modelLookup(segment) };
  }
  const m = OIP_MODEL.exec(path);
  // `.` and `..` are path segments to the upstream (a normalising proxy would resolve them to
  // another route than the one authorized), not model names.
  if (!m || isDotSegment(m[1]!) || (m[2] !== undefined && (isDotSegment(m[2]) || isNonCanonicalNumber(m[2])))) return null;
  const suffix = m[3];
  if (suffix === '/infer') return { kind: 'oip.infer', model: m[1]!, version: m[2] ?? null, hasBody: true, method: 'POST' };
  if (suffix === '/ready') return { kind: 'oip.model.ready', model: m[1]!, version: m[2] ?? null, hasBody: false, method: 'GET' };
  return { kind: 'oip.model.metadata', model: m[1]!, version: m[2] ?? null, hasBody: false, method: 'GET' };
}
