import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { CHECK_SPAN_NAME, createTracing, endCheckSpan, methodLabel, otlpTracesUrl, startCheckSpan } from '../../../src/telemetry/tracing.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

function setup(samplerRatio?: number) {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ serviceName: 'fhirgate-authz-test', exporter, ...(samplerRatio === undefined ? {} : { samplerRatio }) });
  return { exporter, tracing };
}

test('the check span joins the caller trace: same trace id, parent = traceparent span id', async () => {
  const { exporter, tracing } = setup();
  const span = startCheckSpan(tracing.tracer, `00-${TRACE}-${PARENT}-01`, { method: 'GET' });
  endCheckSpan(span, { decision: 'allow', reason: 'allowed', clientId: 'growth-chart-app' });
  const [finished] = exporter.getFinishedSpans();
  assert.ok(finished);
  assert.equal(finished.name, CHECK_SPAN_NAME);
  assert.equal(finished.kind, SpanKind.SERVER);
  assert.equal(finished.spanContext().traceId, TRACE);
  assert.equal(finished.parentSpanContext?.spanId, PARENT);
  assert.equal(finished.parentSpanContext?.isRemote, true);
  assert.notEqual(finished.spanContext().spanId, PARENT);
  assert.deepEqual(finished.attributes, {
    'http.method': 'GET',
    'fhirgate.decision': 'allow',
    'fhirgate.reason': 'allowed',
    'fhirgate.client_id': 'growth-chart-app',
  });
  assert.equal(finished.resource.attributes['service.name'], 'fhirgate-authz-test');
  await tracing.shutdown();
});

test('garbage or missing traceparent starts a new root trace', async () => {
  const { exporter, tracing } = setup();
  for (const header of [undefined, 'garbage', `00-${'0'.repeat(32)}-${PARENT}-01`, `00-${TRACE.toUpperCase()}-${PARENT}-01`]) {
    endCheckSpan(startCheckSpan(tracing.tracer, header), { decision: 'deny', reason: 'credential_missing' });
  }
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.length, 4);
  for (const s of spans) {
    assert.equal(s.parentSpanContext, undefined);
    assert.match(s.spanContext().traceId, /^[0-9a-f]{32}$/);
    assert.notEqual(s.spanContext().traceId, TRACE);
    assert.doesNotMatch(s.spanContext().traceId, /^0+$/);
  }
  assert.equal(new Set(spans.map((s) => s.spanContext().traceId)).size, 4);
  await tracing.shutdown();
});

test('an unsampled caller: the span is not exported but keeps the trace id (ids still propagate)', async () => {
  const { exporter, tracing } = setup();
  const span = startCheckSpan(tracing.tracer, `00-${TRACE}-${PARENT}-00`, { method: 'GET' });
  assert.equal(span.spanContext().traceId, TRACE);
  assert.equal(span.isRecording(), false);
  endCheckSpan(span, { decision: 'allow', reason: 'allowed' });
  assert.equal(exporter.getFinishedSpans().length, 0);
  await tracing.shutdown();
});

test('sampler ratio 0 drops new roots but still follows a sampled caller', async () => {
  const { exporter, tracing } = setup(0);
  endCheckSpan(startCheckSpan(tracing.tracer, undefined), { decision: 'allow', reason: 'allowed' });
  assert.equal(exporter.getFinishedSpans().length, 0);
  endCheckSpan(startCheckSpan(tracing.tracer, `00-${TRACE}-${PARENT}-01`), { decision: 'allow', reason: 'allowed' });
  assert.equal(exporter.getFinishedSpans().length, 1);
  await tracing.shutdown();
});

test('attributes are limited to non-PHI facts; odd methods and unknown reasons are not recorded raw', async () => {
  const { exporter, tracing } = setup();
  const hostile = {
    method: 'GET /Patient/123',
    decision: 'deny',
    reason: 'patient 123 was here',
    clientId: 'c'.repeat(500),
    path: '/fhir/Patient/123',
    patient: '123',
    token: 'eyJhbGciOiJub25lIn0.e30.',
  } as unknown as Parameters<typeof startCheckSpan>[2];
  const span = startCheckSpan(tracing.tracer, undefined, hostile);
  endCheckSpan(span, { reason: 'internal_error' });
  const [s] = exporter.getFinishedSpans();
  assert.ok(s);
  assert.deepEqual(Object.keys(s.attributes).sort(), ['fhirgate.client_id', 'fhirgate.decision', 'fhirgate.reason', 'http.method']);
  assert.equal(s.attributes['http.method'], '_OTHER');
  assert.equal(s.attributes['fhirgate.reason'], 'internal_error');
  assert.equal(String(s.attributes['fhirgate.client_id']).length, 128);
  assert.ok(!JSON.stringify(s.attributes).includes('123'));
  assert.equal(s.status.code, SpanStatusCode.ERROR);
  await tracing.shutdown();
});

test('a denial is not a span error; only internal_error is', async () => {
  const { exporter, tracing } = setup();
  endCheckSpan(startCheckSpan(tracing.tracer, undefined), { decision: 'deny', reason: 'token_expired' });
  assert.equal(exporter.getFinishedSpans()[0]?.status.code, SpanStatusCode.UNSET);
  await tracing.shutdown();
});

test('without an endpoint or exporter, spans are real (valid ids) and go nowhere', async () => {
  const tracing = createTracing({ serviceName: 'x' });
  const span = startCheckSpan(tracing.tracer, `00-${TRACE}-${PARENT}-01`);
  assert.equal(span.spanContext().traceId, TRACE);
  assert.match(span.spanContext().spanId, /^[0-9a-f]{16}$/);
  assert.equal(span.isRecording(), true);
  span.end();
  await tracing.shutdown();
});

test('with an OTLP endpoint, spans are exported over HTTP on shutdown', async () => {
  const received: Array<{ url: string | undefined; type: string | undefined; bytes: number }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ url: req.url, type: req.headers['content-type'], bytes: Buffer.concat(chunks).length });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const tracing = createTracing({ serviceName: 'fhirgate-authz', otlpEndpoint: `http://127.0.0.1:${port}` });
    endCheckSpan(startCheckSpan(tracing.tracer, `00-${TRACE}-${PARENT}-01`, { method: 'GET' }), { decision: 'allow', reason: 'allowed' });
    await tracing.shutdown();
    assert.equal(received.length, 1);
    assert.equal(received[0]?.url, '/v1/traces');
    assert.ok((received[0]?.bytes ?? 0) > 0);
    assert.match(String(received[0]?.type), /^application\/(x-protobuf|json)/);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('option validation', () => {
  assert.throws(() => createTracing({ serviceName: '' }), TypeError);
  assert.throws(() => createTracing({ serviceName: 'x', samplerRatio: 1.5 }), TypeError);
  assert.throws(() => createTracing({ serviceName: 'x', samplerRatio: Number.NaN }), TypeError);
  assert.throws(() => createTracing({ serviceName: 'x', otlpEndpoint: 'ftp://collector' }), TypeError);
  assert.throws(() => createTracing({ serviceName: 'x', otlpEndpoint: 'http://a', exporter: new InMemorySpanExporter() }), TypeError);
});

test('otlpTracesUrl appends the traces path once and rejects credentials and queries', () => {
  assert.equal(otlpTracesUrl('http://collector:4318'), 'http://collector:4318/v1/traces');
  assert.equal(otlpTracesUrl('http://collector:4318/'), 'http://collector:4318/v1/traces');
  assert.equal(otlpTracesUrl('https://collector/otel/v1/traces'), 'https://collector/otel/v1/traces');
  assert.throws(() => otlpTracesUrl('not a url'), TypeError);
  assert.throws(() => otlpTracesUrl('http://user:pw@collector'), TypeError);
  assert.throws(() => otlpTracesUrl('http://collector?x=1'), TypeError);
});

test('methodLabel keeps standard verbs only', () => {
  assert.equal(methodLabel('PATCH'), 'PATCH');
  assert.equal(methodLabel('get'), '_OTHER');
  assert.equal(methodLabel('PROPFIND'), '_OTHER');
});
