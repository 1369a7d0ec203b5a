import { X509Certificate } from 'node:crypto';
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { buildConnector } from 'undici';
import { isSpiffeId, parseSpiffeId, uriSans } from './SpiffeId.js';
import { pemCertificateBlocks } from './x509.js';

/** The SPIFFE ID path of the control plane's listener certificate; the CA issues it to nothing else. */
export const CONTROL_PLANE_SPIFFE_PATH = '/warden/server';

function isControlPlaneId(id: string): boolean {
  return isSpiffeId(id) && parseSpiffeId(id).path === CONTROL_PLANE_SPIFFE_PATH;
}

/**
 * The host-name check plus a pin on the control plane's SPIFFE ID path. Every workload, sidecar
 * and gateway holds a certificate from the same CA, and a gateway may hold one for a DNS name the
 * control plane answers to as well (identity.gatewayDnsNames, default localhost): the host name
 * alone would let such a peer pose as the control plane, receive PEP tokens, join tokens and
 * audit records, and serve a forged policy snapshot. (The CA bundle fixes the trust domain.)
 */
export function checkControlPlaneIdentity(host: string, cert: PeerCertificate): Error | undefined {
  const hostError = checkServerIdentity(host, cert);
  if (hostError) return hostError;
  const ids = uriSans(cert.subjectaltname);
  if (ids.some(isControlPlaneId)) return undefined;
  const named = ids.join(' ').slice(0, 200) || 'no SPIFFE ID';
  return Object.assign(new Error(`the server at ${host} is not the Warden control plane: its certificate names ${named}, not spiffe://<trust domain>${CONTROL_PLANE_SPIFFE_PATH}`), { code: 'ERR_WARDEN_NOT_CONTROL_PLANE' });
}

/** TLS options (undici `connect`) for every call to the control plane: its CA, TLS 1.2+, the identity pin. */
export function controlPlaneTls(caPem: string | undefined): ConnectionOptions {
  return { ca: caPem, minVersion: 'TLSv1.2', checkServerIdentity: checkControlPlaneIdentity };
}

/**
 * Roots that verify the control plane: fixed, or followed (a remote PEP's SPIFFE bundle, so the
 * control plane's certificate may move to a rotated CA's new root without breaking its PEPs).
 */
export type ControlPlaneRoots = string | undefined | (() => string);

/** undici `connect` for calls to the control plane; with followed roots each new connection uses the current ones. */
export function controlPlaneConnect(roots: ControlPlaneRoots): ConnectionOptions | buildConnector.connector {
  if (typeof roots !== 'function') return controlPlaneTls(roots);
  let built: { pem: string; connect: buildConnector.connector } | null = null;
  return (options, callback) => {
    const pem = roots();
    if (built?.pem !== pem) built = { pem, connect: buildConnector(controlPlaneTls(pem)) };
    built.connect(options, callback);
  };
}

/**
 * TLS options for an operator's tool (CLI, drills) calling the admin API: pinned to the control
 * plane with Warden's own bundle; with another CA (a TLS proxy in front) the host-name check only.
 */
export function adminApiTls(caPem: string | undefined): ConnectionOptions {
  return isSpiffeTrustBundle(caPem) ? controlPlaneTls(caPem) : { ca: caPem, minVersion: 'TLSv1.2' };
}

/**
 * Whether a CA bundle is a SPIFFE trust bundle (Warden's CA names its trust domain in a URI SAN).
 * The CLI pins the control plane only then: its --ca may instead name the CA of a TLS proxy in
 * front of the admin API, whose certificate carries no SPIFFE ID.
 */
export function isSpiffeTrustBundle(pem: string | undefined): boolean {
  for (const block of pemCertificateBlocks(pem ?? '')) {
    try {
      if (uriSans(new X509Certificate(block).subjectAltName).some((uri) => uri.startsWith('spiffe://'))) return true;
    } catch {
      // not a certificate Node can parse: not evidence either way
    }
  }
  return false;
}
