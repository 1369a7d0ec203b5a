import { WardenError } from '../../errors/index.js';
import type { RequestContext } from '../RequestContext.js';
import type { GatewayGuards } from '../ResponseGuards.js';
import { guardStrings, MAX_GUARDED_DEPTH } from './guardStrings.js';

/** Largest error answer the gateway reads to guard; a larger one is withheld. */
export const MAX_ERROR_ANSWER_BYTES = 1024 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The body of an upstream error answer (status 300 and up) as the client may see it. Model servers
 * echo inputs and leak their own secrets (keys in stack traces, connection strings) in errors, so
 * on routes whose answers the guards read, errors are guarded too: JSON string by string (the
 * structure stays valid JSON), any other UTF-8 text as a whole. Binary error answers are withheld
 * here; compressed (refuseUninspectable) and oversized (UpstreamAnswer.readAll) ones before they are read.
 */
export function guardErrorAnswer(ctx: RequestContext, guards: GatewayGuards, raw: Buffer): Buffer {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new WardenError('WARDEN_GATEWAY_UPSTREAM_UNINSPECTABLE', 'the model server answered with an error that is not UTF-8 text, which the output guards cannot read; the answer is withheld');
  }
  const guard = (s: string): string => guards.guardErrorText(ctx, s);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    const guarded = guard(text);
    return guarded === text ? raw : Buffer.from(guarded);
  }
  const guarded = guardStrings(json, guard, () => {
    throw new WardenError('WARDEN_GATEWAY_UPSTREAM_UNINSPECTABLE', `the model server answered with an error nested deeper than ${MAX_GUARDED_DEPTH} levels, which the output guards do not follow; the answer is withheld`);
  });
  return guarded === json ? raw : Buffer.from(JSON.stringify(guarded));
}
