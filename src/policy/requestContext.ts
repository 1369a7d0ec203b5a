import { WardenError } from '../errors/index.js';
import type { EntityRef } from './Authorizer.js';

export interface RequestContextInput {
  region: string;
  classification: string;
  mfa: boolean;
  /** Client address as the socket reports it (IPv4-mapped IPv6 is unwrapped). */
  sourceIp: string;
  time?: Date | number;
  /** Further attributes (plain JSON; must not collide with the ones above). */
  extra?: Record<string, unknown>;
}

/**
 * The Cedar context every PEP sends (see examples/policies/schema.cedarschema): sourceIp as
 * an `ipaddr` extension value, time as epoch seconds.
 */
export function buildRequestContext(input: RequestContextInput): Record<string, unknown> {
  const ip = input.sourceIp.startsWith('::ffff:') && input.sourceIp.includes('.') ? input.sourceIp.slice(7) : input.sourceIp;
  const t = input.time instanceof Date ? input.time.getTime() : (input.time ?? Date.now());
  return {
    ...input.extra,
    region: input.region,
    classification: input.classification,
    mfa: input.mfa,
    sourceIp: { __extn: { fn: 'ip', arg: ip } },
    time: Math.floor(t / 1000),
  };
}

const ENTITY_REF = /^((?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)::("(?:[^"\\]|\\.)*")$/;

/** Parses `Type::"id"` (as written in Cedar) into an entity reference. */
export function parseEntityRef(text: string): EntityRef {
  const m = ENTITY_REF.exec(text.trim());
  if (m) {
    try {
      const id = JSON.parse(m[2]!) as string;
      return { type: m[1]!, id };
    } catch {
      /* fall through to the error */
    }
  }
  throw new WardenError('WARDEN_POLICY_REQUEST_INVALID', `expected an entity like User::"alice", got ${JSON.stringify(text.slice(0, 80))}`);
}
