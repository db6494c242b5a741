import { SpanStatusCode, trace, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api';

const TRACER = 'whatsapp-exporter';

/**
 * The tracer of a registered OpenTelemetry SDK, else undefined. The API's own provider is a proxy
 * that hands out no-op spans until an SDK registers behind it; starting such a span still cost ≈ 2 µs of
 * a webhook's ≈ 70 (a context, a span object and three closures), so without an SDK inSpan just runs
 * its function. Asked on every call (an SDK may register after start-up), of the global provider (an SDK
 * loaded through the other build of @opentelemetry/api, CommonJS or ESM, registers its own proxy there).
 */
function activeTracer(): Tracer | undefined {
  const provider = trace.getTracerProvider() as TracerProvider & { getDelegateTracer?: (name: string) => Tracer | undefined };
  return typeof provider.getDelegateTracer === 'function' ? provider.getDelegateTracer(TRACER) : provider.getTracer(TRACER);
}

/** What the no-op tracer would have handed out. */
const NO_SPAN = trace.wrapSpanContext({ traceId: '00000000000000000000000000000000', spanId: '0000000000000000', traceFlags: 0 });

export async function inSpan<T>(name: string, attributes: Record<string, string | number | boolean>, fn: (span: Span) => Promise<T>): Promise<T> {
  const tracer = activeTracer();
  if (tracer === undefined) return fn(NO_SPAN);
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).name });
      throw err;
    } finally {
      span.end();
    }
  });
}
