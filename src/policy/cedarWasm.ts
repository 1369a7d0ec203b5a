/**
 * The reference Cedar implementation (Rust compiled to wasm): parser, validator and the
 * evaluator the compiled one is tested against. The Node build loads synchronously.
 */
import { setFlagsFromString } from 'node:v8';

// Node 20's V8 aborts the process ("unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation) when an optimized frame that inlined a JS→wasm
// call is lazily deoptimized during that call, which parsing large policy sets triggers
// reliably. Not inlining those calls avoids the crash; set before any caller is optimized.
setFlagsFromString('--no-turbo-inline-js-wasm-calls');

export * as cedarWasm from '@cedar-policy/cedar-wasm/nodejs';
export type {
  PolicyJson,
  Expr,
  DetailedError,
  AuthorizationAnswer,
  SchemaJson,
  ValidationAnswer,
} from '@cedar-policy/cedar-wasm/nodejs';
