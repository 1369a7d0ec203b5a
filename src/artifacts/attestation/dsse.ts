import { dsse } from '@sigstore/core';
import { WardenError } from '../../errors/index.js';
import type { ArtifactSigner } from './signers.js';

/** DSSE envelope JSON (https://github.com/secure-systems-lab/dsse/blob/master/envelope.md). */
export interface DsseEnvelope {
  payloadType: string;
  /** Base64 (standard alphabet) of the payload bytes. */
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/*
 * PAE comes from @sigstore/core, which measures the payload type in UTF-16 code units where the
 * DSSE spec counts bytes; both agree for ASCII, so Warden only accepts printable-ASCII types.
 */
const PAYLOAD_TYPE = /^[\x21-\x7e]{1,256}$/;

export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  if (!PAYLOAD_TYPE.test(payloadType)) throw new WardenError('WARDEN_ATTESTATION_INVALID', 'DSSE payloadType must be 1-256 printable ASCII characters');
  return dsse.preAuthEncoding(payloadType, payload);
}

export function signDsse(payload: Buffer, payloadType: string, signer: ArtifactSigner): DsseEnvelope {
  const sig = signer.sign(preAuthEncoding(payloadType, payload));
  return { payloadType, payload: payload.toString('base64'), signatures: [{ keyid: signer.keyId, sig: sig.toString('base64') }] };
}
