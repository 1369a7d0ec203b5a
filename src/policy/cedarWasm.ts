/**
 * The reference Cedar implementation (Rust compiled to wasm): parser, validator and the
 * evaluator the compiled one is tested against. The Node build loads synchronously.
 */
export * as cedarWasm from '@cedar-policy/cedar-wasm/nodejs';
export type {
  PolicyJson,
  Expr,
  DetailedError,
  AuthorizationAnswer,
  SchemaJson,
  ValidationAnswer,
} from '@cedar-policy/cedar-wasm/nodejs';
