import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { seq, tlv, integer, oid, bitString } from './der.js';
import { derToPem } from './FileCertificateAuthority.js';

const SIG_ALG_ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

export interface WorkloadKey {
  privateKey: KeyObject;
  /** PKCS#8 PEM, for svid.key. */
  keyPem: string;
  /** PKCS#10 CSR (PEM) carrying only the public key: the SPIFFE ID is decided by the server. */
  csrPem: string;
}

/** Generates a fresh P-256 key and a CSR for it. The private key never leaves this process. */
export function createWorkloadKey(): WorkloadKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  // CertificationRequestInfo: version 0, empty subject, SPKI, no attributes (RFC 2986 §4.1).
  const info = seq(integer(Buffer.from([0])), seq(), spki, tlv(0xa0));
  const signature = sign('sha256', info, { key: privateKey, dsaEncoding: 'der' });
  const csr = seq(info, SIG_ALG_ECDSA_SHA256, bitString(signature));
  return {
    privateKey,
    keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    csrPem: derToPem(csr, 'CERTIFICATE REQUEST'),
  };
}
