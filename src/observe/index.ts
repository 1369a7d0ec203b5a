export { createLogger, redactUrl, type Logger, type LoggerOptions } from './logger.js';
export {
  createGatewayMetrics,
  createControlPlaneMetrics,
  recordRequest,
  upstreamUp,
  processMetricsRegistry,
  type GatewayMetrics,
  type ControlPlaneMetrics,
  type RequestObservation,
  type UpstreamUp,
} from './metrics.js';
export { metricsHandler, bearerMatches, type MetricsHandlerOptions } from './metricsHandler.js';
export { createGatewayObserver, entityString, observeSnapshots, observeAudit, type ObservedAuditWriter, type GatewayObserver, type GatewayObserverOptions, type ObservedRequest, type DecisionEvent } from './gatewayObserver.js';
export { createTracing, NOOP_TRACING, type Tracing, type TracingConfig, type RequestTrace, type StageSpan } from './tracing.js';
export { requestOutcome, auditDecisionOf, type RequestOutcome, type OutcomeFields } from './requestOutcome.js';
