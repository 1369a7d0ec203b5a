import type { Logger } from '../observe/index.js';

/** Waits for SIGTERM/SIGINT, then runs `close` once (drain requests, flush audit) and resolves. */
export function untilShutdown(logger: Logger, close: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down: draining requests and flushing the audit log');
      close()
        .catch((err) => logger.error({ err }, 'shutdown error'))
        .finally(() => {
          logger.flush();
          resolve();
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
