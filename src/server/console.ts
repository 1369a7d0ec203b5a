import { readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';

export interface ConsoleOptions {
  /** Directory holding the built SPA (index.html + assets/). Default: dist/console next to the compiled server. */
  root?: string;
  /** URL prefix, without a trailing slash. */
  prefix?: string;
}

/**
 * The console is plain static files; every byte of data it shows comes from /api/v1 with the
 * admin token, so it gets no privileges of its own. The policy allows only same-origin
 * scripts, styles and fetches: no inline code, no eval, no framing.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=(), clipboard-read=()',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** dist/server/console.js → dist/console; src/server/console.ts (tsx) → dist/console too. */
function defaultRoot(): string {
  const here = import.meta.dirname;
  const candidates = [resolve(here, '../console'), resolve(here, '../../dist/console')];
  return candidates.find((c) => existsSync(join(c, 'index.html'))) ?? candidates[0]!;
}

function withHeaders(reply: FastifyReply, secure: boolean): FastifyReply {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
  if (secure) reply.header('strict-transport-security', 'max-age=31536000');
  return reply;
}

/** Resolves a URL path inside root; null for traversal, dotfiles or anything that is not a plain file. */
async function fileFor(root: string, urlPath: string): Promise<string | null> {
  let rel: string;
  try {
    rel = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (rel.includes('\0') || rel.split('/').some((part) => part.startsWith('.'))) return null;
  const full = resolve(root, '.' + '/' + rel);
  if (full !== root && !full.startsWith(root + sep)) return null;
  const s = await stat(full).catch(() => null);
  return s?.isFile() ? full : null;
}

/**
 * Serves the built console at `/console/` with a strict CSP. Unknown paths without a dot
 * get index.html so client-side routes survive a reload; missing assets are 404.
 */
export async function registerConsole(app: FastifyInstance, options: ConsoleOptions = {}): Promise<void> {
  const root = resolve(options.root ?? defaultRoot());
  const prefix = options.prefix ?? '/console';

  app.get(prefix, { config: { public: true } }, async (_request, reply) => reply.redirect(`${prefix}/`, 302));

  app.get<{ Params: { '*': string } }>(`${prefix}/*`, { config: { public: true } }, async (request, reply) => {
    withHeaders(reply, request.protocol === 'https');
    const wanted = request.params['*'] ?? '';
    let file = wanted === '' ? join(root, 'index.html') : await fileFor(root, wanted);
    // Page routes (/console/audit) get the app; anything that looks like a file (has a dot) must exist.
    if (!file && !wanted.includes('.')) file = join(root, 'index.html');
    if (!file || !existsSync(file)) {
      const built = existsSync(join(root, 'index.html'));
      reply.code(built ? 404 : 503).type('text/plain; charset=utf-8');
      return built ? 'not found\n' : 'WARDEN_CONSOLE_NOT_BUILT: the console is not built; run `npm run build:console`\n';
    }
    reply.type(TYPES[extname(file)] ?? 'application/octet-stream');
    return readFile(file);
  });
}
