import { isIP } from 'node:net';
import { isLoopbackHost } from './isLoopbackHost.js';

const WILDCARD = /^(0\.0\.0\.0|::|)$/;

function hostPart(name: string): string {
  return isIP(name) === 6 ? `[${name}]` : name;
}

/**
 * The https URL to advertise (ready line, server.json) for a listener on `host:port` whose
 * certificate names `names` (server.hostnames: DNS names and IPs): clients verify the host name,
 * so a URL the certificate does not cover fails with ERR_TLS_CERT_ALTNAME_INVALID. The listen
 * address when covered; a loopback or wildcard listener otherwise as a local name the certificate
 * has (127.0.0.1, then localhost); a wildcard listener else as its first name.
 */
export function advertisedHttpsUrl(host: string, port: number, names: readonly string[]): string {
  const bare = host.replace(/^\[|\]$/g, '');
  const covered = (n: string) => names.some((m) => m.toLowerCase() === n.toLowerCase());
  let chosen = bare;
  if (!covered(bare) && (isLoopbackHost(bare) || WILDCARD.test(bare))) {
    chosen = ['127.0.0.1', 'localhost'].find(covered) ?? (WILDCARD.test(bare) && names[0] ? names[0] : bare);
  }
  return `https://${hostPart(chosen)}:${port}`;
}
