import type { IncomingHttpHeaders } from 'node:http';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, defaultTextMapGetter, defaultTextMapSetter, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';

export interface TracingConfig {
  /** OTLP/HTTP traces URL; empty = tracing off. */
  endpoint: string;
  serviceName: string;
  sampleRatio: number;
  headers: Record<string, string>;
  timeoutMs: number;
}

/** One pipeline stage's span. */
export interface StageSpan {
  end(errorCode?: string | null): void;
}

/** The trace of one gateway request: a server span with a child per stage. */
export interface RequestTrace {
  stage(name: string): StageSpan;
  /** Adds W3C `traceparent`/`tracestate` for the upstream call (child of the request span). */
  inject(headers: Record<string, string | string[] | undefined>): void;
  end(status: number, errorCode: string | null, route: string | null): void;
}

export interface Tracing {
  readonly enabled: boolean;
  /** Continues the caller's trace when the request carries a valid `traceparent`. */
  startRequest(headers: IncomingHttpHeaders): RequestTrace;
  /** Exports what is buffered and stops the exporter. */
  shutdown(): Promise<void>;
}

// Shared no-op objects: with tracing off, the pipeline pays one property read and a call.
const NOOP_STAGE: StageSpan = { end() {} };
const NOOP_REQUEST: RequestTrace = {
  stage: () => NOOP_STAGE,
  inject() {},
  end() {},
};
export const NOOP_TRACING: Tracing = { enabled: false, startRequest: () => NOOP_REQUEST, shutdown: async () => undefined };

class OtelRequestTrace implements RequestTrace {
  private readonly ctx: Context;
  constructor(
    private readonly tracer: Tracer,
    private readonly propagator: { inject(ctx: Context, carrier: unknown, setter: typeof defaultTextMapSetter): void },
    private readonly span: Span,
  ) {
    this.ctx = trace.setSpan(ROOT_CONTEXT, span);
  }
  stage(name: string): StageSpan {
    const s = this.tracer.startSpan(`warden.${name}`, { kind: SpanKind.INTERNAL }, this.ctx);
    return {
      end(errorCode) {
        if (errorCode) s.setStatus({ code: SpanStatusCode.ERROR, message: errorCode });
        s.end();
      },
    };
  }
  inject(headers: Record<string, string | string[] | undefined>): void {
    this.propagator.inject(this.ctx, headers, defaultTextMapSetter);
  }
  end(status: number, errorCode: string | null, route: string | null): void {
    this.span.setAttribute('http.response.status_code', status);
    if (route) this.span.setAttribute('http.route', route);
    // Codes only: never principals, keys or bodies in span attributes.
    if (errorCode) {
      this.span.setAttribute('warden.error_code', errorCode);
      if (status >= 500) this.span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode });
    }
    this.span.end();
  }
}

/**
 * OpenTelemetry tracing for the gateway pipeline, exported over OTLP/HTTP when
 * `observe.tracing.endpoint` is set. The SDK is loaded only then, and no global provider is
 * registered: Warden's spans never mix with an embedding application's.
 */
export async function createTracing(config: TracingConfig): Promise<Tracing> {
  if (!config.endpoint) return NOOP_TRACING;
  const [{ BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler }, { OTLPTraceExporter }, { resourceFromAttributes }, { W3CTraceContextPropagator }] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/core'),
  ]);
  const exporter = new OTLPTraceExporter({ url: config.endpoint, headers: config.headers, timeoutMillis: config.timeoutMs });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000, maxQueueSize: 8192 })],
  });
  const tracer = provider.getTracer('warden');
  const propagator = new W3CTraceContextPropagator();
  return {
    enabled: true,
    startRequest(headers) {
      const parent = propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
      const span = tracer.startSpan('warden.request', { kind: SpanKind.SERVER }, parent);
      return new OtelRequestTrace(tracer, propagator, span);
    },
    async shutdown() {
      await provider.forceFlush();
      await provider.shutdown();
    },
  };
}
