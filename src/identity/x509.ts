import { webcrypto, randomBytes, X509Certificate } from 'node:crypto';
import type { Crypto } from './webcryptoTypes.js';
import * as x509 from '@peculiar/x509';

// @peculiar/x509 signs and verifies through WebCrypto; use Node's implementation.
x509.cryptoProvider.set(webcrypto as unknown as Crypto as never);

export { x509 };

export const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** Positive, non-zero-leading 128-bit serial (RFC 5280 §4.1.2.2: ≤ 20 octets, unpredictable). */
export function randomSerialHex(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString('hex');
}

export function toPem(cert: x509.X509Certificate): string {
  return cert.toString('pem') + '\n';
}

/** The PEM blocks of concatenated certificates, in order. */
export function pemCertificateBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** Splits concatenated PEM certificates. */
export function parsePemCertificates(pem: string): x509.X509Certificate[] {
  return pemCertificateBlocks(pem).map((b) => new x509.X509Certificate(b));
}

/** Concatenated PEM certificates as Node's X509Certificate (chain checks with `verify`, `checkIssued`). */
export function nodeCertificatesFromPem(pem: string): X509Certificate[] {
  return pemCertificateBlocks(pem).map((b) => new X509Certificate(b));
}

/** Serial numbers compared as lowercase hex without leading zeros (Node, OpenSSL and x509 differ in padding). */
export function normalizeSerial(serial: string): string {
  const s = serial.toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^0+/, '');
  return s || '0';
}
