import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { parseConfig } from '../../../src/authz/config.ts';
import { CheckPipeline } from '../../../src/authz/pipeline.ts';
import { createRecorder } from '../../../src/authz/record.ts';
import { MemorySink } from '../../../src/audit/sink.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { createTracing } from '../../../src/telemetry/tracing.ts';
import { checkRequest, principal } from '../../support/fixtures.ts';
import { engine } from '../../support/policy.ts';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const TRACEPARENT = `00-${TRACE}-b7ad6b7169203331-01`;
const config = parseConfig({
  auth: { issuers: [{ issuer: 'https://issuer.example.test', audiences: ['a'] }] },
  policy: { apiVersion: 'fhirgate.io/v1alpha1', kind: 'FhirAccessPolicy', metadata: { name: 'p' }, spec: { fhirBasePath: '/fhir' } },
  audit: { sink: 'none' },
});

async function run(withExporter: boolean) {
  const sink = new MemorySink();
  const exporter = new InMemorySpanExporter();
  const recorder = await createRecorder({
    config,
    logger: silentLogger,
    auditSink: sink,
    ...(withExporter ? { tracing: createTracing({ serviceName: 'test', exporter }) } : {}),
  });
  const p = principal({ subject: 'user-secret-1', scopes: ['patient/Observation.rs'], patient: 'pat-1', jti: 'jti-9' });
  const pipeline = new CheckPipeline({
    authenticator: { authenticate: async () => ({ ok: true, principal: p, cached: true }) },
    authorizer: () => engine(),
    maxBodyBytes: 1000,
    record: (o) => recorder.record(o),
    trace: (tp) => recorder.startSpan(tp),
  });
  await pipeline.check(checkRequest({ path: '/fhir/Observation?patient=pat-1', headers: { authorization: 'Bearer t', traceparent: TRACEPARENT } }));
  await pipeline.check(checkRequest({ path: '/fhir/Observation?patient=pat-2', headers: { authorization: 'Bearer t' } }));
  const metrics = await recorder.metrics.registry.metrics();
  const spans = exporter.getFinishedSpans();
  await recorder.close();
  return { sink, spans, metrics };
}

test('one audit event per decision, joined to the caller trace, with pseudonyms only', async () => {
  const { sink, metrics } = await run(false);
  assert.equal(sink.events.length, 2);
  const [allow, deny] = sink.events;
  assert.equal(allow?.decision, 'allow');
  assert.equal(allow?.traceId, TRACE);
  assert.equal(allow?.jti, 'jti-9');
  assert.equal(deny?.reason, 'patient_compartment_violation');
  const text = JSON.stringify(sink.events);
  assert.doesNotMatch(text, /user-secret-1|pat-1|pat-2|Bearer/);
  assert.match(metrics, /fhirgate_decisions_total\{decision="allow",reason="allowed"\} 1/);
  assert.match(metrics, /fhirgate_decisions_total\{decision="deny",reason="patient_compartment_violation"\} 1/);
  assert.match(metrics, /fhirgate_check_duration_seconds_count\{decision="allow"\} 1/);
});

test('with a trace backend, each check is a span that is a child of the caller span', async () => {
  const { sink, spans } = await run(true);
  assert.equal(spans.length, 2);
  const joined = spans.find((s) => s.spanContext().traceId === TRACE);
  assert.ok(joined);
  assert.equal(joined.parentSpanContext?.spanId, 'b7ad6b7169203331');
  assert.equal(joined.attributes['fhirgate.decision'], 'allow');
  assert.equal(sink.events[0]?.traceId, TRACE);
  assert.ok(!JSON.stringify(spans.map((s) => s.attributes)).includes('pat-1'));
});
