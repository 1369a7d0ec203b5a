import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import { x509 } from '../../../src/identity/x509.js';
import { createWorkloadKey } from '../../../src/identity/index.js';
import { intermediateCertPath } from '../../../src/identity/caFileNames.js';

export { x509 };

/** Loads the active intermediate's certificate and key from a CA directory (to mint malformed leaves). */
export async function loadIntermediate(dataDir: string): Promise<{ cert: x509.X509Certificate; key: webcrypto.CryptoKey }> {
  const caDir = join(dataDir, 'ca');
  const state = JSON.parse(readFileSync(join(caDir, 'authority.json'), 'utf8')) as { generations: { id: string; status: string; intermediate: number }[] };
  const g = state.generations.find((x) => x.status === 'active')!;
  const cert = new x509.X509Certificate(readFileSync(intermediateCertPath(caDir, g.id, g.intermediate), 'utf8'));
  const pem = readFileSync(join(caDir, 'keys', `${g.id}-intermediate-${g.intermediate}.key`), 'utf8');
  const key = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(pem), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  return { cert, key };
}

export function caKeyFiles(dataDir: string): string[] {
  return readdirSync(join(dataDir, 'ca', 'keys')).map((f) => join(dataDir, 'ca', 'keys', f));
}

/** Mints a leaf signed by `issuer` with arbitrary (possibly non-conforming) properties. */
export async function mintLeaf(
  issuer: { cert: x509.X509Certificate; key: webcrypto.CryptoKey },
  o: { uris: string[]; ca?: boolean; keyUsage?: number; notBefore?: Date; notAfter?: Date },
): Promise<{ certPem: string; chainPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    subject: 'O=Test',
    issuer: issuer.cert.subject,
    notBefore: o.notBefore ?? new Date(now - 60_000),
    notAfter: o.notAfter ?? new Date(now + 3600_000),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    publicKey: keys.publicKey as never,
    signingKey: issuer.key as never,
    extensions: [
      new x509.BasicConstraintsExtension(o.ca ?? false, undefined, true),
      new x509.KeyUsagesExtension(o.keyUsage ?? x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(o.uris.map((u) => ({ type: 'url' as const, value: u }))),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const certPem = cert.toString('pem') + '\n';
  return { certPem, chainPem: certPem + issuer.cert.toString('pem') + '\n', keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n' };
}

export { createWorkloadKey };
