import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from '../../../src/telemetry/metrics.ts';

/** The value of one series in the exposition text, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('exposition contains every series after observations', async () => {
  const m = createMetrics({ defaultMetrics: false, issuers: ['hospital'] });
  m.checkDuration.observe(0.0003, 'allow');
  m.checkDuration.observe(0.2, 'deny');
  m.decisions.inc('allow', 'allowed');
  m.decisions.inc('deny', 'token_expired');
  m.decisions.inc('deny', 'token_expired');
  m.jwksFetches.inc('hospital', 'success');
  m.tokenCache.hit();
  m.tokenCache.hit();
  m.tokenCache.miss();
  m.introspections.inc('inactive');
  m.breakGlass.inc();
  m.inflight.inc();
  m.inflight.inc();
  m.inflight.dec();
  m.auditDropped.inc('buffer_full', 3);
  const text = await m.registry.metrics();

  assert.equal(sample(text, 'fhirgate_check_duration_seconds_bucket{le="0.0005",decision="allow"}'), 1);
  assert.equal(sample(text, 'fhirgate_check_duration_seconds_bucket{le="0.0001",decision="allow"}'), 0);
  assert.equal(sample(text, 'fhirgate_check_duration_seconds_bucket{le="0.25",decision="deny"}'), 1);
  assert.equal(sample(text, 'fhirgate_check_duration_seconds_bucket{le="0.5",decision="deny"}'), 1);
  assert.equal(sample(text, 'fhirgate_check_duration_seconds_count{decision="deny"}'), 1);
  assert.equal(sample(text, 'fhirgate_decisions_total{decision="allow",reason="allowed"}'), 1);
  assert.equal(sample(text, 'fhirgate_decisions_total{decision="deny",reason="token_expired"}'), 2);
  assert.equal(sample(text, 'fhirgate_jwks_fetches_total{issuer="hospital",outcome="success"}'), 1);
  assert.equal(sample(text, 'fhirgate_token_cache_hits_total'), 2);
  assert.equal(sample(text, 'fhirgate_token_cache_misses_total'), 1);
  assert.equal(sample(text, 'fhirgate_introspections_total{outcome="inactive"}'), 1);
  assert.equal(sample(text, 'fhirgate_break_glass_total'), 1);
  assert.equal(sample(text, 'fhirgate_inflight_checks'), 1);
  assert.equal(sample(text, 'fhirgate_audit_events_dropped_total{cause="buffer_full"}'), 3);
  assert.match(m.registry.contentType, /^text\/plain/);
});

test('closed label sets start at zero so alerts see the series before the first event', async () => {
  const m = createMetrics({ defaultMetrics: false, issuers: ['a', 'b'] });
  const text = await m.registry.metrics();
  assert.equal(sample(text, 'fhirgate_decisions_total{decision="deny",reason="rate_limited"}'), 0);
  assert.equal(sample(text, 'fhirgate_decisions_total{decision="allow",reason="allowed"}'), 0);
  assert.equal(sample(text, 'fhirgate_jwks_fetches_total{issuer="b",outcome="failure"}'), 0);
  assert.equal(sample(text, 'fhirgate_introspections_total{outcome="failure"}'), 0);
  assert.equal(sample(text, 'fhirgate_audit_events_dropped_total{cause="write_error"}'), 0);
});

test('default process metrics are included unless turned off', async () => {
  const withDefaults = await createMetrics().registry.metrics();
  assert.match(withDefaults, /^process_cpu_user_seconds_total /m);
  assert.match(withDefaults, /^nodejs_heap_size_used_bytes /m);
  const without = await createMetrics({ defaultMetrics: false }).registry.metrics();
  assert.doesNotMatch(without, /process_cpu_user_seconds_total/);
});

test('each call has its own registry', async () => {
  const a = createMetrics({ defaultMetrics: false });
  const b = createMetrics({ defaultMetrics: false });
  a.breakGlass.inc();
  assert.equal(sample(await a.registry.metrics(), 'fhirgate_break_glass_total'), 1);
  assert.equal(sample(await b.registry.metrics(), 'fhirgate_break_glass_total'), 0);
});

test('issuer label cardinality is capped: unknown names beyond the cap count as "other"', async () => {
  const m = createMetrics({ defaultMetrics: false, issuers: ['one'], maxIssuers: 2 });
  m.jwksFetches.inc('two', 'success');
  for (let i = 0; i < 50; i++) m.jwksFetches.inc(`https://attacker.example/${i}`, 'failure');
  m.jwksFetches.inc('bad label\n{x="y"}', 'failure');
  const text = await m.registry.metrics();
  const issuers = new Set([...text.matchAll(/fhirgate_jwks_fetches_total\{issuer="([^"]*)"/g)].map((x) => x[1]));
  assert.deepEqual([...issuers].sort(), ['one', 'other', 'two']);
  assert.equal(sample(text, 'fhirgate_jwks_fetches_total{issuer="other",outcome="failure"}'), 51);
});

test('caller mistakes are TypeErrors, not new series', async () => {
  const m = createMetrics({ defaultMetrics: false });
  assert.throws(() => m.decisions.inc('allow', 'token_expired'), TypeError);
  assert.throws(() => m.decisions.inc('deny', 'allowed'), TypeError);
  assert.throws(() => m.decisions.inc('deny', 'no_such_reason' as never), TypeError);
  assert.throws(() => m.decisions.inc('maybe' as never, 'allowed'), TypeError);
  assert.throws(() => m.introspections.inc('weird' as never), TypeError);
  assert.throws(() => m.checkDuration.observe(Number.NaN, 'allow'), TypeError);
  assert.throws(() => m.checkDuration.observe(-1, 'allow'), TypeError);
  assert.throws(() => m.auditDropped.inc('closed', 1.5), TypeError);
  assert.throws(() => createMetrics({ prefix: 'bad-prefix' }), TypeError);
  const text = await m.registry.metrics();
  assert.doesNotMatch(text, /no_such_reason|weird|maybe/);
});
