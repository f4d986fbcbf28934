import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cpuPressureMeter, parseCpuPressureTotal, parseStatTicks, processCpuSeconds } from '../../bench/lib/proc.ts';
import { sidecarCounters, sumSamples } from '../../bench/lib/prom.ts';
import { ghzArgs, parseGhzReport, redactGhzReport } from '../../bench/lib/ghz.ts';
import { fortioArgs, parseFortioResult } from '../../bench/lib/fortio.ts';
import { median, verdict } from '../../bench/lib/stats.ts';

test('parseStatTicks adds utime and stime, counting fields after the last parenthesis', () => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
  const stat = '4242 (node) foo) bar) S 1 4242 4242 0 -1 4194560 100 0 0 0 731 269 0 0 20 0 11 0 123 456';
  assert.equal(parseStatTicks(stat), 1000);
  assert.throws(() => parseStatTicks('garbage without parens'), /unexpected/);
  assert.throws(() => parseStatTicks('1 (x) S 1'), /unexpected/);
});

test('processCpuSeconds of this process grows with work', () => {
  const before = processCpuSeconds(process.pid);
  let x = 0;
  for (let i = 0; i < 3e7; i++) x += i % 7;
  assert.ok(x > 0);
  assert.ok(processCpuSeconds(process.pid) > before);
});

test('median and verdict', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), TypeError);
  assert.equal(verdict(1.2, '<=', 1.3), 'PASS');
  assert.equal(verdict(1.31, '<=', 1.3), 'FAIL');
  assert.equal(verdict(0.8, '>=', 0.8), 'PASS');
  // A missing figure (JSON null from NaN) is never a pass.
  assert.equal(verdict(Number.NaN, '<=', 1.3), 'FAIL');
  assert.equal(verdict(null, '>=', 0.8), 'FAIL');
  fc.assert(
    fc.property(fc.array(fc.double({ noNaN: true, min: -1e9, max: 1e9 }), { minLength: 1, maxLength: 50 }), (xs) => {
      const m = median(xs);
      return m >= Math.min(...xs) && m <= Math.max(...xs);
    }),
  );
});

const METRICS = `# HELP fhirgate_decisions_total Authorization decisions by decision and reason code.
# TYPE fhirgate_decisions_total counter
fhirgate_decisions_total{decision="allow",reason="allowed"} 120
fhirgate_decisions_total{decision="deny",reason="token_expired"} 3
fhirgate_decisions_total{decision="deny",reason="scope_insufficient"} 4
fhirgate_decisions_total_extra{decision="allow"} 999
fhirgate_token_cache_hits_total 100
fhirgate_token_cache_misses_total 20
`;

test('sumSamples filters by labels and ignores longer names sharing the prefix', () => {
  assert.equal(sumSamples(METRICS, 'fhirgate_decisions_total', { decision: 'allow' }), 120);
  assert.equal(sumSamples(METRICS, 'fhirgate_decisions_total', { decision: 'deny' }), 7);
  assert.equal(sumSamples(METRICS, 'fhirgate_decisions_total'), 127);
  assert.equal(sumSamples(METRICS, 'absent_metric'), 0);
  assert.deepEqual(sidecarCounters(METRICS), { allowed: 120, denied: 7, cacheHits: 100, cacheMisses: 20 });
});

const GHZ_REPORT = JSON.stringify({
  options: { call: 'envoy.service.auth.v3.Authorization.Check', data: [{ secret: 'Bearer eyJtoken' }] },
  count: 1000,
  total: 1e9,
  average: 2_500_000,
  rps: 998.5,
  errorDistribution: { 'rpc error: code = Unavailable': 2 },
  statusCodeDistribution: { OK: 998, Unavailable: 2 },
  latencyDistribution: [
    { percentage: 50, latency: 1_250_000 },
    { percentage: 99, latency: 9_000_000 },
  ],
  details: [{ latency: 1, status: 'OK' }],
});

test('parseGhzReport reads counts, errors and percentiles in ms', () => {
  const s = parseGhzReport(GHZ_REPORT);
  assert.deepEqual(s, { count: 1000, ok: 998, errors: 2, rps: 998.5, p50Ms: 1.25, p99Ms: 9, averageMs: 2.5 });
  assert.throws(() => parseGhzReport('{}'), /not a ghz/);
  assert.throws(() => parseGhzReport('not json'));
});

test('redactGhzReport drops the echoed request data and per-call details', () => {
  const red = redactGhzReport(GHZ_REPORT);
  assert.ok(!red.includes('eyJtoken'));
  assert.ok(!red.includes('"details"'));
  assert.equal(parseGhzReport(red).count, 1000);
});

test('ghzArgs bounds the run by --total and never passes --max-duration (it makes ghz ignore --total)', () => {
  const args = ghzArgs({ target: '127.0.0.1:1', dataFile: '/tmp/d.json', calls: 500, concurrency: 4, rps: 100, cpu: 0, maxSeconds: 10 });
  assert.equal(args[args.indexOf('--total') + 1], '500');
  assert.equal(args[args.indexOf('--rps') + 1], '100');
  assert.ok(!args.includes('--max-duration') && !args.includes('-x') && !args.includes('-z'));
  assert.equal(args.at(-1), '127.0.0.1:1');
  assert.ok(!ghzArgs({ target: 't', dataFile: 'd', calls: 1, concurrency: 1, maxSeconds: 1 }).includes('--rps'));
});

test('parseFortioResult converts seconds to ms and keeps status codes', () => {
  const doc = {
    ActualQPS: 499.9,
    RetCodes: { '200': 9990, '503': 10 },
    DurationHistogram: {
      Count: 10000,
      Avg: 0.0007,
      Percentiles: [
        { Percentile: 50, Value: 0.0005 },
        { Percentile: 90, Value: 0.0009 },
        { Percentile: 99, Value: 0.002 },
        { Percentile: 99.9, Value: 0.004 },
      ],
    },
  };
  const s = parseFortioResult(JSON.stringify(doc));
  assert.equal(s.count, 10000);
  assert.equal(s.p50Ms, 0.5);
  assert.equal(s.p99Ms, 2);
  assert.equal(s.p999Ms, 4);
  assert.deepEqual(s.codes, { '200': 9990, '503': 10 });
  assert.throws(() => parseFortioResult('{"DurationHistogram":{}}'), /not a fortio/);
});

test('fortioArgs sets a fixed rate, duration, 100 µs resolution and the headers', () => {
  const args = fortioArgs({ url: 'http://127.0.0.1:1/fhir/x', qps: 500, seconds: 20, connections: 8, headers: [['authorization', 'Bearer t']] });
  assert.equal(args[0], 'load');
  assert.equal(args[args.indexOf('-qps') + 1], '500');
  assert.equal(args[args.indexOf('-t') + 1], '20s');
  assert.equal(args[args.indexOf('-r') + 1], '0.0001');
  assert.equal(args[args.indexOf('-H') + 1], 'authorization: Bearer t');
  assert.equal(args.at(-1), 'http://127.0.0.1:1/fhir/x');
});

test('parseCpuPressureTotal reads the "some" total and tolerates kernels without PSI', () => {
  const text = 'some avg10=9.38 avg60=27.76 avg300=40.30 total=1356203794\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n';
  assert.equal(parseCpuPressureTotal(text), 1356203794);
  assert.equal(parseCpuPressureTotal(''), undefined);
  const meter = cpuPressureMeter();
  const p = meter.pct();
  assert.ok(p === undefined || (p >= 0 && Number.isFinite(p)));
});
