import { errorCodes, type ErrorCode } from './codes.js';

/**
 * The one error type of Warden. `code` is stable (documented in docs/errors.md),
 * `status` is the HTTP status a PEP or the admin API answers with, and the
 * message never contains secrets.
 */
export class WardenError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** The request field the error is about (a path like `messages[0].role`), for OpenAI-style `param`. */
  readonly param: string | null;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; status?: number; param?: string }) {
    const info = (errorCodes as Record<string, { status: number; description: string }>)[code] ?? { status: 500, description: code };
    super(message ?? info.description, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WardenError';
    this.code = code;
    this.status = options?.status ?? info.status;
    this.param = options?.param ?? null;
  }

  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isWardenError(err: unknown): err is WardenError {
  return err instanceof WardenError;
}

/** Wraps any thrown value into a WardenError (unknown errors become WARDEN_INTERNAL without leaking details). */
export function toWardenError(err: unknown, fallback: ErrorCode = 'WARDEN_INTERNAL'): WardenError {
  if (err instanceof WardenError) return err;
  return new WardenError(fallback, undefined, { cause: err });
}
