import type { RouteKind } from '../protocols/routes.js';
import { DEFAULT_VALIDATION_LIMITS, type ValidationLimits } from './checks.js';
import { validateChatCompletion } from './validateChatCompletion.js';
import { validateCompletion } from './validateCompletion.js';
import { validateEmbedding } from './validateEmbedding.js';
import { validateOipInfer } from './validateOipInfer.js';

/**
 * Schema and limit checks of request bodies, by route. Synchronous, allocation-free on valid
 * input; throws WardenError WARDEN_GATEWAY_INVALID_REQUEST (400) naming the field path.
 * Strict on the types and ranges of fields it knows, tolerant of fields it does not know
 * (forward compatibility with newer SDKs; the upstream still sees and judges them).
 */
export class RequestValidator {
  readonly limits: ValidationLimits;

  constructor(limits: Partial<ValidationLimits> = {}) {
    this.limits = { ...DEFAULT_VALIDATION_LIMITS, ...limits };
  }

  /**
   * `rawBody` is the body as received: an OIP INT64/UINT64 element whose parsed value sits on the
   * type's bound is checked against its literal text (without it, such an element is refused).
   */
  validate(kind: RouteKind, body: Record<string, unknown> | null, rawBody: Buffer | null = null): void {
    if (body === null) return;
    switch (kind) {
      case 'openai.chat':
        return validateChatCompletion(body, this.limits);
      case 'openai.completions':
        return validateCompletion(body, this.limits);
      case 'openai.embeddings':
        return validateEmbedding(body, this.limits);
      case 'oip.infer':
        return validateOipInfer(body, this.limits, rawBody);
      default:
        return;
    }
  }
}
