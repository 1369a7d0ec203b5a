import { WardenError } from '../errors/index.js';

export interface SpiffeId {
  /** The full ID, e.g. spiffe://prod.example/ns/ml/sa/trainer */
  id: string;
  trustDomain: string;
  /** Path including the leading slash, or '' for the trust domain itself. */
  path: string;
}

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;
/** SPIFFE-ID spec §2: URIs are at most 2048 bytes. */
const MAX_ID_LENGTH = 2048;

/**
 * Parses a SPIFFE ID strictly per the SPIFFE-ID spec (§2): scheme `spiffe`, lowercase trust
 * domain without port or userinfo, path segments of [A-Za-z0-9._-] that are not `.` or `..`,
 * no trailing slash, no query or fragment. Hand-written: it is the product's identity
 * grammar and no maintained JS library implements the spec's rules.
 */
export function parseSpiffeId(value: string, options: { allowTrustDomainOnly?: boolean } = {}): SpiffeId {
  const fail = (why: string): never => {
    throw new WardenError('WARDEN_IDENTITY_SPIFFE_ID_INVALID', `invalid SPIFFE ID ${JSON.stringify(value.slice(0, 128))}: ${why}`);
  };
  if (typeof value !== 'string' || value.length === 0) fail('empty');
  if (value.length > MAX_ID_LENGTH) fail('longer than 2048 bytes');
  if (!value.startsWith('spiffe://')) fail('scheme must be spiffe://');
  const rest = value.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (!trustDomain) fail('missing trust domain');
  if (!TRUST_DOMAIN.test(trustDomain)) fail('trust domain may contain only lowercase letters, digits, dot, dash and underscore');
  if (path === '') {
    if (!options.allowTrustDomainOnly) fail('missing path');
  } else {
    if (path.endsWith('/')) fail('trailing slash');
    for (const segment of path.slice(1).split('/')) {
      if (segment === '') fail('empty path segment');
      if (segment === '.' || segment === '..') fail('dot segment');
      if (!PATH_SEGMENT.test(segment)) fail('path segments may contain only letters, digits, dot, dash and underscore');
    }
  }
  return { id: value, trustDomain, path };
}

/** URI SANs (where SPIFFE IDs travel) from Node's `subjectaltname` / `subjectAltName` string ("URI:spiffe://…, DNS:…"). */
export function uriSans(subjectAltName: string | undefined): string[] {
  return (subjectAltName ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
}

export function isSpiffeId(value: string): boolean {
  try {
    parseSpiffeId(value);
    return true;
  } catch {
    return false;
  }
}

/** Validates a trust domain name (the part after spiffe://). */
export function assertTrustDomain(trustDomain: string): string {
  if (!TRUST_DOMAIN.test(trustDomain) || trustDomain.length > 255) {
    throw new WardenError('WARDEN_IDENTITY_SPIFFE_ID_INVALID', `invalid trust domain ${JSON.stringify(trustDomain.slice(0, 64))}`);
  }
  return trustDomain;
}

/**
 * Matches a SPIFFE ID against a pattern: exact, or a prefix ending in `/*` that matches any
 * ID below it (never a sibling: `spiffe://td/prod/*` does not match `spiffe://td/production`).
 */
export function spiffeIdMatches(pattern: string, id: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('/*')) return id.startsWith(pattern.slice(0, -1));
  return pattern === id;
}

/** Reads a `/<key>/<value>/` pair from a SPIFFE ID path (e.g. env, tenant, ns). */
export function spiffePathValue(id: string, key: string): string | undefined {
  const { path } = parseSpiffeId(id, { allowTrustDomainOnly: true });
  const segments = path.split('/');
  const i = segments.indexOf(key, 1);
  return i > 0 && i + 1 < segments.length ? segments[i + 1] : undefined;
}
