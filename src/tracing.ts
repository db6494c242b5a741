import { SpanStatusCode, trace, type Span } from '@opentelemetry/api';

/** No SDK here: without a registered tracer provider these spans cost next to nothing. */
export const tracer = trace.getTracer('whatsapp-exporter');

export async function inSpan<T>(name: string, attributes: Record<string, string | number | boolean>, fn: (span: Span) => Promise<T>): Promise<T> {
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
