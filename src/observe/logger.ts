import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Paths that may hold credentials anywhere in a log object. pino censors them
 * before serialisation, so a secret cannot reach the log even by mistake.
 */
const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'apiKey',
  '*.apiKey',
  'token',
  '*.token',
  'adminToken',
  '*.adminToken',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'privateKey',
  '*.privateKey',
  'databaseUrl',
];

export interface LoggerOptions {
  level?: LevelWithSilent;
  name?: string;
}

/** Structured JSON logs on stderr (stdout is reserved for machine-readable command output). */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = (process.env.WARDEN_LOG_LEVEL as LevelWithSilent | undefined) ?? options.level ?? 'info';
  return pino(
    {
      name: options.name ?? 'warden',
      level,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      base: { pid: process.pid },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

/** Hides the credentials of a URL (user name too: it may be a token) before it is shown anywhere. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username) u.username = '***';
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}
