/** An evaluation error: Cedar skips the policy and reports it. */
export class CedarEvalError extends Error {
  override readonly name = 'CedarEvalError';
}

/**
 * Raised when a value cannot be represented exactly by the compiled evaluator (a Long
 * beyond 2^53). The authorizer answers that one request with cedar-wasm instead.
 */
export class NeedsReferenceEvaluator extends Error {
  override readonly name = 'NeedsReferenceEvaluator';
}

/** Raised at compile time for constructs the compiler does not handle (the whole set falls back). */
export class UnsupportedConstruct extends Error {
  override readonly name = 'UnsupportedConstruct';
}
