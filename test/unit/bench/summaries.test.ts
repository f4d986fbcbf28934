import { test } from 'node:test';
import assert from 'node:assert/strict';
import { counterProblems, summarize } from '../../bench/check.ts';
import type { ArmRun, CheckBenchResult } from '../../bench/check.ts';
import { envoyHistogramPercentiles, envoyProblems, summarizeEnvoy } from '../../bench/envoy.ts';
import type { EnvoyRun } from '../../bench/envoy.ts';
import { render } from '../../bench/report.ts';
import type { CheckFile, EnvoyFile, MachineInfo } from '../../bench/report.ts';
import type { GhzSummary } from '../../bench/lib/ghz.ts';
import type { FortioSummary } from '../../bench/lib/fortio.ts';

const ghz = (rps: number): GhzSummary => ({ count: 1000, ok: 1000, errors: 0, rps, p50Ms: 1, p99Ms: 5, averageMs: 1.5 });

function run(round: number, arm: ArmRun['arm'], usPerCall: number, problems: string[] = []): ArmRun {
  return { round, arm, phase: 'max', ghz: ghz(1e6 / usPerCall), cpuSeconds: usPerCall / 1000, usPerCall, counters: undefined, problems };
}

test('counterProblems demands all-allowed and the intended cache behaviour', () => {
  const ok = { allowed: 100, denied: 0, cacheHits: 100, cacheMisses: 0 };
  assert.deepEqual(counterProblems('cached', 100, ok), []);
  assert.deepEqual(counterProblems('noop', 100, undefined), []);
  assert.match(counterProblems('cached', 100, { ...ok, allowed: 90, denied: 10 }).join(), /allowed 90 of 100.*10 denials/);
  assert.match(counterProblems('uncached', 100, ok).join(), /cache misses 0, expected 100/);
  assert.deepEqual(counterProblems('uncached', 100, { allowed: 100, denied: 0, cacheHits: 0, cacheMisses: 100 }), []);
  assert.match(counterProblems('cached', 100, undefined).join(), /no sidecar counters/);
});

test('summarize takes per-round ratios, then their median, and ignores invalid runs', () => {
  const result: CheckBenchResult = {
    settings: {},
    runs: [
      run(1, 'noop', 50),
      run(1, 'cached', 60),
      run(1, 'uncached', 150),
      run(2, 'noop', 100),
      run(2, 'cached', 110),
      run(2, 'uncached', 300, ['5 failed calls']),
      run(1, 'noop-h2', 40),
    ],
    jose: [
      { round: 1, verified: 1000, perCpuSecond: 8000, usPerVerify: 125, authnUsPerToken: 60 },
      { round: 2, verified: 1000, perCpuSecond: 4000, usPerVerify: 250 },
    ],
  };
  const s = summarize(result);
  // Round ratios 1.2 and 1.1 → median 1.15, although the absolute figures doubled between rounds.
  assert.ok(Math.abs(s.cachedOverNoop - 1.15) < 1e-9);
  // Only round 1 has a valid uncached run: (1e6/150) / 8000.
  assert.ok(Math.abs(s.uncachedOverJose - 1e6 / 150 / 8000) < 1e-9);
  // The ceiling needs the no-op on our transport and the token layer, both only in round 1: 125 / (40 + 60).
  assert.ok(Math.abs(s.uncachedCeilingOverJose - 1.25) < 1e-9);
  assert.ok(Math.abs(s.tokenLayerOverJose - 125 / 60) < 1e-9);
  assert.equal(s.joseRate, 6000);
  const cached = s.arms.find((a) => a.arm === 'cached' && a.phase === 'max');
  assert.equal(cached?.usPerCall, 85);
  assert.equal(s.arms.find((a) => a.arm === 'uncached')?.runs, 1);
});

test('summarize yields NaN (never a pass) when an arm has no valid run', () => {
  const s = summarize({ settings: {}, runs: [run(1, 'noop', 50), run(1, 'cached', 60, ['x'])], jose: [] });
  assert.ok(Number.isNaN(s.cachedOverNoop));
  assert.ok(Number.isNaN(s.uncachedOverJose));
  assert.ok(Number.isNaN(s.uncachedCeilingOverJose));
});

const fortio = (p50Ms: number, p99Ms: number, codes: Record<string, number> = { '200': 10000 }): FortioSummary => ({
  count: 10000,
  actualQps: 500,
  p50Ms,
  p90Ms: p50Ms * 2,
  p99Ms,
  p999Ms: p99Ms * 2,
  avgMs: p50Ms,
  codes,
});

test('summarizeEnvoy computes added latency within each round', () => {
  const runs: EnvoyRun[] = [
    { round: 1, arm: 'plain', fortio: fortio(0.4, 1.0), envoyUsPerRequest: 80, sidecarUsPerRequest: undefined, problems: [] },
    { round: 1, arm: 'fhirgate', fortio: fortio(0.7, 1.8), envoyUsPerRequest: 120, sidecarUsPerRequest: 90, problems: [] },
    { round: 2, arm: 'fhirgate', fortio: fortio(1.5, 3.0), envoyUsPerRequest: 120, sidecarUsPerRequest: 90, problems: [] },
    { round: 2, arm: 'plain', fortio: fortio(1.0, 2.0), envoyUsPerRequest: 80, sidecarUsPerRequest: undefined, problems: [] },
    { round: 1, arm: 'noop-h2-authz', fortio: fortio(0.6, 1.2), envoyUsPerRequest: 100, sidecarUsPerRequest: undefined, problems: [] },
    { round: 2, arm: 'noop-h2-authz', fortio: fortio(1.2, 2.6), envoyUsPerRequest: 100, sidecarUsPerRequest: undefined, problems: [] },
  ];
  const s = summarizeEnvoy(runs);
  assert.ok(Math.abs(s.addedP50Ms - 0.4) < 1e-9); // rounds: 0.3 and 0.5
  assert.ok(Math.abs(s.addedP99Ms - 0.9) < 1e-9); // rounds: 0.8 and 1.0
  assert.ok(Math.abs(s.noopH2AddedP50Ms - 0.2) < 1e-9); // rounds: 0.2 and 0.2
  assert.ok(Math.abs(s.noopH2AddedP99Ms - 0.4) < 1e-9); // rounds: 0.2 and 0.6
  assert.ok(Number.isNaN(s.noopAddedP50Ms), 'an arm that did not run has no figure');
  assert.deepEqual(s.arms.map((a) => a.arm), ['plain', 'noop-h2-authz', 'fhirgate']);
  assert.equal(s.arms.find((a) => a.arm === 'fhirgate')?.sidecarUs, 90);
});

test('envoyProblems flags any non-200 answer', () => {
  assert.deepEqual(envoyProblems(fortio(1, 2)), []);
  assert.match(envoyProblems(fortio(1, 2, { '200': 9000, '503': 1000 })).join(), /1000 of 10000/);
  assert.match(envoyProblems(fortio(1, 2, {})).join(), /not 200/);
});

test('render shows PASS/FAIL per target and says when a part did not run', () => {
  const machine: MachineInfo = {
    date: '2026-01-01T00:00:00Z',
    commit: 'abc',
    cpus: 2,
    cpuModel: 'test cpu',
    node: 'v24',
    envoy: '1.40.0',
    ghz: '0.121.0',
    fortio: '1.68.2',
    loadStart: '0.10 0.20 0.30',
    loadEnd: '0.40 0.50 0.60',
  };
  const runs = [run(1, 'noop', 50), run(1, 'cached', 60), run(1, 'uncached', 150)];
  const jose = [{ round: 1, verified: 1000, perCpuSecond: 8000, usPerVerify: 125 }];
  const check: CheckFile = { settings: { rounds: 1, pinned: true }, runs, jose, summary: summarize({ settings: {}, runs, jose }) };
  const md = render(machine, check, undefined);
  assert.match(md, /cached Check CPU ≤ 1\.3× no-op handler \| 1\.20× \| PASS/);
  assert.match(md, /uncached RS256 rate ≥ 0\.8× jose raw verify \(whole Check over gRPC\) \| 0\.83× \| PASS/);
  assert.match(md, /token layer alone .* \| —× \| FAIL \|/, "a ratio that was not measured never passes");
  assert.match(md, /0\.10 0\.20 0\.30/);
  assert.match(md, /Not run \(no envoy\.json\.raw\)/);
  const envoy: EnvoyFile = {
    settings: { qps: 500, seconds: 20, connections: 8, rounds: 1 },
    runs: [],
    summary: summarizeEnvoy([]),
  };
  // No valid runs: the targets must read FAIL, not PASS.
  const md2 = render(machine, undefined, JSON.parse(JSON.stringify(envoy)) as EnvoyFile);
  assert.match(md2, /added p50 ≤ 0\.5 ms \| — ms \| FAIL/);
});

test('envoyHistogramPercentiles reads cumulative P50/P99 from admin /stats text', () => {
  const text =
    'cluster.fhirgate_authz.upstream_rq_time: P0(nan,0) P25(nan,1.025) P50(nan,1.05) P75(nan,2.1) P90(nan,3.2) P95(nan,4.1) P99(nan,8.3) P99.5(nan,9) P99.9(nan,12) P100(nan,15)\n';
  assert.deepEqual(envoyHistogramPercentiles(text, 'cluster.fhirgate_authz.upstream_rq_time'), { p50Ms: 1.05, p99Ms: 8.3 });
  assert.equal(envoyHistogramPercentiles(text, 'cluster.other.upstream_rq_time'), undefined);
  const noData = envoyHistogramPercentiles('cluster.fhirgate_authz.upstream_rq_time: No recorded values\n', 'cluster.fhirgate_authz.upstream_rq_time');
  assert.ok(noData !== undefined && Number.isNaN(noData.p50Ms));
});
