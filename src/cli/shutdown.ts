import type { Logger } from '../observe/index.js';

/** SIGTERM/SIGINT handlers installed up front, so a signal during a start is not the default (a kill mid-start). */
export interface ShutdownSignals {
  /** The signal received so far, if any (e.g. during the start). */
  readonly requested: string | null;
  /** Waits for a signal (or returns at once if one came already), then runs `close` once and resolves. */
  until(logger: Logger, close: () => Promise<void>): Promise<void>;
}

export function watchShutdownSignals(): ShutdownSignals {
  let requested: string | null = null;
  let onSignal: (() => void) | null = null;
  const receive = (signal: string): void => {
    if (requested) return;
    requested = signal;
    onSignal?.();
  };
  process.once('SIGTERM', () => receive('SIGTERM'));
  process.once('SIGINT', () => receive('SIGINT'));
  return {
    get requested() {
      return requested;
    },
    until: (logger, close) =>
      new Promise<void>((resolve) => {
        const stop = (): void => {
          logger.info({ signal: requested }, 'shutting down: draining requests and flushing the audit log');
          close()
            .catch((err) => logger.error({ err }, 'shutdown error'))
            .finally(() => {
              logger.flush();
              resolve();
            });
        };
        if (requested) stop();
        else onSignal = stop;
      }),
  };
}

/** Waits for SIGTERM/SIGINT, then runs `close` once (drain requests, flush audit) and resolves. */
export function untilShutdown(logger: Logger, close: () => Promise<void>): Promise<void> {
  return watchShutdownSignals().until(logger, close);
}

/** Writes to stdout and resolves once the bytes are handed to the OS (before a credential counts as shown). */
export function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
}
