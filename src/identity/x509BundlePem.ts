import { X509Certificate } from 'node:crypto';
import { WardenError } from '../errors/index.js';
import { derToPem } from './FileCertificateAuthority.js';
import type { SpiffeBundle } from './types.js';
import { nodeCertificatesFromPem } from './x509.js';

/**
 * The X.509 trust anchors (PEM) for client SVIDs: the certificates in `configuredPem`, then the
 * `x509-svid` roots of a SPIFFE bundle (their `x5c`), each once. A PEP that got the bundle from
 * the control plane follows CA rotations with it; the configured CA file keeps working if the
 * bundle lists no X.509 roots. Throws WARDEN_UNAVAILABLE when an entry is not a CA certificate,
 * so a malformed bundle is refused whole rather than half applied.
 */
export function x509BundlePem(bundle: SpiffeBundle, configuredPem: string): string {
  const seen = new Set<string>();
  let out = '';
  const add = (cert: X509Certificate): void => {
    if (seen.has(cert.fingerprint256)) return;
    seen.add(cert.fingerprint256);
    out += derToPem(cert.raw, 'CERTIFICATE');
  };
  for (const cert of nodeCertificatesFromPem(configuredPem)) add(cert);
  for (const key of bundle.keys) {
    if (key.use !== 'x509-svid') continue;
    const der = key.x5c?.[0];
    let cert: X509Certificate | null = null;
    try {
      if (der) cert = new X509Certificate(Buffer.from(der, 'base64'));
    } catch {
      cert = null;
    }
    if (!cert?.ca) throw new WardenError('WARDEN_UNAVAILABLE', 'the SPIFFE bundle has an x509-svid entry without a CA certificate');
    add(cert);
  }
  return out;
}
