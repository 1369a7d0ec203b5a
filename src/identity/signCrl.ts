import { sign } from 'node:crypto';
import { seq, tlv, integer, time, oid, bitString, extension } from './der.js';
import type { LeafSigner } from './fastLeaf.js';

const SIG_ALG_ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

/**
 * Encodes and signs a v2 CRL (RFC 5280 §5) with the issuing intermediate. Hand-written on the
 * DER helpers because @peculiar/x509 1.x emits an empty crlEntryExtensions SEQUENCE that
 * OpenSSL rejects ("No supported data to decode").
 */
export function signCrl(
  signer: LeafSigner,
  o: { thisUpdate: Date; nextUpdate: Date; crlNumber: number; entries: { serialHex: string; revokedAt: Date }[] },
): Buffer {
  const revoked = o.entries.map((e) => seq(integer(Buffer.from(e.serialHex.length % 2 ? '0' + e.serialHex : e.serialHex, 'hex')), time(e.revokedAt)));
  const numberBytes = Buffer.alloc(6);
  numberBytes.writeUIntBE(o.crlNumber, 0, 6);
  const tbs = seq(
    integer(Buffer.from([1])),
    SIG_ALG_ECDSA_SHA256,
    signer.issuerDer,
    time(o.thisUpdate),
    time(o.nextUpdate),
    ...(revoked.length ? [seq(...revoked)] : []),
    tlv(0xa0, seq(signer.authorityKeyIdExt, extension('2.5.29.20', false, integer(numberBytes)))),
  );
  const signature = sign('sha256', tbs, { key: signer.key, dsaEncoding: 'der' });
  return seq(tbs, SIG_ALG_ECDSA_SHA256, bitString(signature));
}
