import { createHash, sign, verify, createPublicKey, KeyObject } from 'node:crypto';
import { WardenError } from '../errors/index.js';
import { readTlv, children, seq, tlv, integer, time, oid, bitString, octetString, extension, TRUE } from './der.js';
import type { CryptoKey } from './webcryptoTypes.js';

const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_ECDSA_SHA384 = '1.2.840.10045.4.3.3';
const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_P256 = '1.2.840.10045.3.1.7';
const OID_P384 = '1.3.132.0.34';

const SIG_ALG_ECDSA_SHA256 = seq(oid(OID_ECDSA_SHA256));
/** The leaf subject is not used for identity (the URI SAN is); a fixed O/OU keeps tools happy. */
const LEAF_SUBJECT_DER = seq(
  tlv(0x31, seq(oid('2.5.4.10'), tlv(0x0c, Buffer.from('Warden')))),
  tlv(0x31, seq(oid('2.5.4.11'), tlv(0x0c, Buffer.from('SPIFFE')))),
);
// SPIFFE X.509-SVID §4.1-4.4: CA=false (critical), digitalSignature only (critical), serverAuth+clientAuth.
const EXT_BASIC_CONSTRAINTS = extension('2.5.29.19', true, seq());
const EXT_KEY_USAGE = extension('2.5.29.15', true, Buffer.from([0x03, 0x02, 0x07, 0x80]));
const EXT_EKU = extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2')));

export interface ParsedCsr {
  /** SubjectPublicKeyInfo DER, copied verbatim into the certificate. */
  spki: Buffer;
  curve: 'P-256' | 'P-384';
}

/**
 * Parses a PKCS#10 CSR (RFC 2986) and verifies its self-signature with Node's crypto.
 * Accepts only ECDSA P-256/P-384 keys signed with ECDSA-SHA256/384.
 */
export function parseAndVerifyCsr(input: string | Uint8Array): ParsedCsr {
  let der: Buffer;
  if (typeof input === 'string') {
    const m = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]+?)-----END (?:NEW )?CERTIFICATE REQUEST-----/.exec(input);
    if (!m) throw new WardenError('WARDEN_IDENTITY_CSR_INVALID', 'CSR is not a PEM CERTIFICATE REQUEST');
    der = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  } else der = Buffer.from(input);
  const outer = readTlv(der, 0);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new WardenError('WARDEN_IDENTITY_CSR_INVALID', 'CSR is not a single DER SEQUENCE');
  const [info, sigAlg, sig] = children(der, outer);
  if (!info || !sigAlg || !sig || info.tag !== 0x30 || sigAlg.tag !== 0x30 || sig.tag !== 0x03) {
    throw new WardenError('WARDEN_IDENTITY_CSR_INVALID', 'CSR structure is not CertificationRequest');
  }
  const infoFields = children(der, info);
  const spkiTlv = infoFields[2];
  if (!spkiTlv || spkiTlv.tag !== 0x30 || infoFields[0]?.tag !== 0x02) throw new WardenError('WARDEN_IDENTITY_CSR_INVALID', 'CSR has no public key');
  const spki = der.subarray(spkiTlv.start, spkiTlv.end);
  const [alg] = children(der, spkiTlv);
  const algFields = alg ? children(der, alg) : [];
  const keyOid = algFields[0] ? decodeOid(der.subarray(algFields[0].contentStart, algFields[0].end)) : '';
  const curveOid = algFields[1]?.tag === 0x06 ? decodeOid(der.subarray(algFields[1].contentStart, algFields[1].end)) : '';
  if (keyOid !== OID_EC_PUBLIC_KEY || (curveOid !== OID_P256 && curveOid !== OID_P384)) {
    throw new WardenError('WARDEN_IDENTITY_CSR_INVALID', 'CSR key must be ECDSA P-256 or P-384');
  }
  const sigAlgOidTlv = children(der, sigAlg)[0];
  const sigOid = sigAlgOidTlv ? decodeOid(der.subarray(sigAlgOidTlv.contentStart, sigAlgOidTlv.end)) : '';
  const hash = sigOid === OID_ECDSA_SHA256 ? 'sha256' : sigOid === OID_ECDSA_SHA384 ? 'sha384' : null;
  if (!hash) throw new WardenError('WARDEN_IDENTITY_CSR_INVALID', 'CSR must be signed with ECDSA-SHA256 or ECDSA-SHA384');
  if (der[sig.contentStart] !== 0) throw new WardenError('WARDEN_IDENTITY_CSR_INVALID', 'CSR signature has unused bits');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new WardenError('WARDEN_IDENTITY_CSR_INVALID', 'CSR public key is not a valid EC point', { cause });
  }
  const ok = verify(hash, der.subarray(info.start, info.end), { key, dsaEncoding: 'der' }, der.subarray(sig.contentStart + 1, sig.end));
  if (!ok) throw new WardenError('WARDEN_IDENTITY_CSR_INVALID', 'CSR signature does not match its public key (tampered?)');
  return { spki: Buffer.from(spki), curve: curveOid === OID_P256 ? 'P-256' : 'P-384' };
}

function decodeOid(b: Uint8Array): string {
  if (b.length === 0) return '';
  const parts = [Math.floor(b[0]! / 40), b[0]! % 40];
  let v = 0;
  for (let i = 1; i < b.length; i++) {
    v = (v << 7) | (b[i]! & 0x7f);
    if (!(b[i]! & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

/** Extracts the subject Name DER and the SKI of the issuing certificate (from its DER). */
export function issuerInfo(certDer: Uint8Array): { subjectDer: Buffer; subjectKeyId: Buffer } {
  const buf = Buffer.from(certDer);
  const cert = readTlv(buf, 0);
  const tbs = children(buf, cert)[0]!;
  const f = children(buf, tbs);
  const hasVersion = f[0]!.tag === 0xa0;
  const subject = f[hasVersion ? 5 : 4]!;
  const spki = f[hasVersion ? 6 : 5]!;
  const spkiFields = children(buf, spki);
  const bits = spkiFields[1]!;
  // RFC 5280 §4.2.1.2 method 1, the same key id @peculiar/x509 and OpenSSL compute.
  const subjectKeyId = createHash('sha1').update(buf.subarray(bits.contentStart + 1, bits.end)).digest();
  return { subjectDer: Buffer.from(buf.subarray(subject.start, subject.end)), subjectKeyId };
}

export interface LeafSigner {
  issuerDer: Buffer;
  authorityKeyIdExt: Buffer;
  key: KeyObject;
}

export function leafSigner(issuerCertDer: Uint8Array, issuerKey: CryptoKey): LeafSigner {
  const { subjectDer, subjectKeyId } = issuerInfo(issuerCertDer);
  return {
    issuerDer: subjectDer,
    authorityKeyIdExt: extension('2.5.29.35', false, seq(tlv(0x80, subjectKeyId))),
    key: KeyObject.from(issuerKey as unknown as Parameters<typeof KeyObject.from>[0]),
  };
}

export type LeafName = { type: 'uri' | 'dns'; value: string } | { type: 'ip'; value: Buffer };

/** Encodes and signs an X.509 v3 SVID leaf. Returns the certificate DER. */
export function signLeafCertificate(
  signer: LeafSigner,
  o: { serialHex: string; spki: Buffer; notBefore: Date; notAfter: Date; names: LeafName[] },
): Buffer {
  const sanEntries = o.names.map((n) => {
    if (n.type === 'ip') return tlv(0x87, n.value);
    return tlv(n.type === 'uri' ? 0x86 : 0x82, Buffer.from(n.value, 'ascii'));
  });
  const spkiFields = children(o.spki, readTlv(o.spki, 0));
  const bits = spkiFields[1]!;
  const ski = createHash('sha1').update(o.spki.subarray(bits.contentStart + 1, bits.end)).digest();
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))),
    integer(Buffer.from(o.serialHex, 'hex')),
    SIG_ALG_ECDSA_SHA256,
    signer.issuerDer,
    seq(time(o.notBefore), time(o.notAfter)),
    LEAF_SUBJECT_DER,
    o.spki,
    tlv(
      0xa3,
      seq(
        EXT_BASIC_CONSTRAINTS,
        EXT_KEY_USAGE,
        EXT_EKU,
        extension('2.5.29.17', false, seq(...sanEntries)),
        extension('2.5.29.14', false, octetString(ski)),
        signer.authorityKeyIdExt,
      ),
    ),
  );
  const signature = sign('sha256', tbs, { key: signer.key, dsaEncoding: 'der' });
  return seq(tbs, SIG_ALG_ECDSA_SHA256, bitString(signature));
}

void TRUE;
