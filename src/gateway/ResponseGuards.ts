import type { RequestContext } from './RequestContext.js';

/** Rewrites streamed completion text; `push` returns what is safe to emit now, `flush` the rest at the end. */
export interface TextStreamTransformer {
  push(text: string): string;
  flush(): string;
}

/**
 * The AI-specific guards the pipeline calls (implemented over src/detect by the wiring code):
 * input inspection before the upstream call, output rewriting after it.
 */
export interface GatewayGuards {
  /** May throw a WardenError (block), rewrite ctx.json/ctx.body (redact) and add ctx.verdicts. */
  inspectRequest(ctx: RequestContext): void | Promise<void>;
  /** Whether the answer to this request must be buffered/parsed (non-streamed JSON). */
  wantsResponse(ctx: RequestContext): boolean;
  /** Rewrites a parsed JSON answer (redaction, probability rounding, PRADA observation). */
  transformJson(ctx: RequestContext, body: unknown): unknown;
  /**
   * Guards the text of an error answer (status 300 and up) on a route whose answers the guards
   * read: model servers echo inputs and leak their own secrets in error messages and stack traces.
   * Redacts, or throws a WardenError when a finding's action is block.
   */
  guardErrorText(ctx: RequestContext, text: string): string;
  /** A per-request transformer for streamed completion text, or null. */
  streamTransformer(ctx: RequestContext): TextStreamTransformer | null;
  /** Called once an upstream answer went out whole with a 2xx status (a prediction feedback may name). */
  predictionServed?(ctx: RequestContext): void;
  /** POST /v1/feedback: records a labelled outcome (may throw a 400 WardenError) and returns the JSON answer. */
  recordFeedback?(ctx: RequestContext): unknown;
}
