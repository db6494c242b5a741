import { trace, type Span, type SpanOptions, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { inSpan } from '../../src/tracing.js';

/** A tracer provider standing in for an OpenTelemetry SDK: records the spans started through it. */
function recordingProvider(started: Array<{ name: string; attributes: unknown; ended: boolean; status?: unknown }>): TracerProvider {
  const blank = (): Span => trace.wrapSpanContext({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 });
  const tracer: Tracer = {
    startSpan: () => blank(),
    startActiveSpan: ((name: string, options: SpanOptions, fn: (span: Span) => unknown) => {
      const entry: (typeof started)[number] = { name, attributes: options.attributes, ended: false };
      started.push(entry);
      const span = blank();
      const recording = Object.assign(Object.create(span) as Span, {
        end: () => void (entry.ended = true),
        setStatus: (status: unknown) => ((entry.status = status), recording),
        recordException: () => undefined,
      });
      return fn(recording);
    }) as Tracer['startActiveSpan'],
  };
  return { getTracer: () => tracer };
}

describe('inSpan', () => {
  afterEach(() => trace.disable());

  it('without an SDK runs the function alone: its value and its failure come through', async () => {
    await expect(inSpan('x', { n: 1 }, async (span) => (span.isRecording() ? 'recording' : 'value'))).resolves.toBe('value');
    await expect(inSpan('x', {}, async () => { throw new Error('boom'); })).rejects.toThrow('boom');
  });

  it('with an SDK registered (even after start-up) starts, ends and marks failed spans through it', async () => {
    const started: Parameters<typeof recordingProvider>[0] = [];
    expect(trace.setGlobalTracerProvider(recordingProvider(started))).toBe(true);
    await expect(inSpan('whatsapp.webhook.apply', { changes: 3 }, async () => 'ok')).resolves.toBe('ok');
    await expect(inSpan('graph x', {}, async () => { throw new TypeError('bad'); })).rejects.toThrow('bad');
    expect(started).toEqual([
      { name: 'whatsapp.webhook.apply', attributes: { changes: 3 }, ended: true },
      { name: 'graph x', attributes: {}, ended: true, status: { code: 2, message: 'TypeError' } },
    ]);
  });
});
