import { WardenError } from '../errors/index.js';
import { redactUrl } from '../observe/logger.js';

/**
 * Checks the URL of a control plane (admin API, identity API, PEP channel) before anything is sent
 * to it. Credentials in it (`https://user:password@host`) are refused: Warden authenticates with
 * its token or certificate, never with them, and the URL is shown in messages and logs. Upstream
 * URLs in warden.yaml are refused the same way. Returns the URL without a trailing slash.
 */
export function checkControlPlaneUrl(raw: string, what = 'control plane URL'): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // Not echoed: an unparseable string may still hold a secret.
    throw new WardenError('WARDEN_USAGE', `the ${what} is not a valid URL (expected https://host:port)`);
  }
  // Not echoed either: `user:password@host` without a scheme parses as the scheme `user:`.
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new WardenError('WARDEN_USAGE', `the ${what} is not an http(s) URL (expected https://host:port)`);
  if (url.username || url.password) {
    throw new WardenError('WARDEN_USAGE', `the ${what} ${redactUrl(raw)} carries credentials (user:password@), which Warden never uses (it authenticates with its token or certificate); remove them`);
  }
  return raw.replace(/\/+$/, '');
}
