#!/usr/bin/env node
/**
 * The Envoy benchmark: the added latency of fhirgate as users see it. Four real Envoys built
 * from the same bootstrap generator sit side by side in front of the same sample FHIR server —
 * one with ext_authz → fhirgate-authz (the dev stack, exactly as `make demo` runs it), one without
 * ext_authz, and two with ext_authz → a no-op server (lib/plain-envoy.ts: the grpc-js one, and one
 * on fhirgate-authz's own transport; they separate the cost of the gRPC hop from the cost of the
 * decision) — and fortio drives each at a fixed rate, interleaved A B C D, D C B A … so drift in
 * the machine's background load reaches all arms. Reported: p50/p90/p99 per arm, the
 * added latency (fhirgate arm − plain arm, per round, then the median) and the CPU the Envoy and
 * sidecar processes spent per request.
 *
 *   node test/bench/envoy.ts --out DIR [--rounds 2] [--qps 500] [--seconds 20] [--connections 8]
 *        [--warmup-seconds 10] [--authz-node-flags="--flag …"]   (default: AUTHZ_NODE_FLAGS, what production runs)
 *
 * Writes DIR/envoy.json.raw (results) and fortio's results (token redacted) as DIR/envoy-*.raw.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ManagedProcess } from '../../src/cli/dev/child.ts';
import { startEnvoy } from '../../src/cli/dev/envoy-process.ts';
import { probeHttp } from '../../src/cli/dev/wait.ts';
import { resolveEnvoyBin, startStack } from '../../src/cli/dev/stack.ts';
import type { Stack } from '../../src/cli/dev/stack.ts';
import { BENCH_PATH } from './lib/check-request.ts';
import { runFortio } from './lib/fortio.ts';
import type { FortioSummary } from './lib/fortio.ts';
import { withAuthzPort, withoutExtAuthz } from './lib/plain-envoy.ts';
import { startNoop } from './lib/servers.ts';
import type { EnvoyBootstrap } from '../../src/envoy/bootstrap.ts';
import { cpuPressureMeter, processCpuSeconds, runIfMain } from './lib/proc.ts';
import { scrapeGc } from './lib/prom.ts';
import { median } from './lib/stats.ts';
import { goTool } from './lib/tools.ts';

export type EnvoyArm = 'plain' | 'noop-authz' | 'noop-h2-authz' | 'fhirgate';

const ARMS: readonly EnvoyArm[] = ['plain', 'noop-authz', 'noop-h2-authz', 'fhirgate'];

export interface EnvoyRun {
  readonly round: number;
  readonly arm: EnvoyArm;
  readonly fortio: FortioSummary;
  /** CPU µs per request of the arm's Envoy, and of fhirgate-authz (fhirgate arm only). */
  readonly envoyUsPerRequest: number;
  readonly sidecarUsPerRequest: number | undefined;
  /** % of the run's wall time some task on the machine waited for a CPU (PSI); undefined without PSI. */
  readonly cpuPressurePct?: number;
  /** fhirgate arm: the sidecar's GC pauses during the run (count and total ms, young and old generation). */
  readonly sidecarGc?: { minorCount: number; minorMs: number; majorCount: number; majorMs: number };
  /** Requests the FHIR server received per client request (above 1: the sidecar's own lookups). */
  readonly upstreamPerRequest?: number;
  readonly problems: readonly string[];
}

interface Settings {
  readonly out: string;
  readonly rounds: number;
  readonly qps: number;
  readonly seconds: number;
  readonly connections: number;
  readonly warmupSeconds: number;
  readonly authzNodeFlags: readonly string[] | undefined;
}

interface Arm {
  readonly url: string;
  readonly envoyPid: number;
}

const READY_MS = 30_000;

/** Start one more Envoy from a sibling bootstrap; resolves once its listener port is known. */
async function startSiblingEnvoy(name: string, bootstrap: EnvoyBootstrap, work: string, envoyBin: string): Promise<{ proc: ManagedProcess; url: string }> {
  const e = await startEnvoy({ name: `envoy-${name}`, bin: envoyBin, bootstrap, dir: work, timeoutMs: READY_MS });
  return { proc: e.proc, url: `http://127.0.0.1:${e.port}` };
}

async function status(url: string, headers: Record<string, string>): Promise<number> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return res.status;
}

/** Every arm answers the benchmark request; only the fhirgate arm demands a token. */
async function sanity(arms: Record<EnvoyArm, Arm>, token: string): Promise<void> {
  const auth = { authorization: `Bearer ${token}` };
  const expect: Array<[EnvoyArm, Record<string, string>, number]> = [
    ['fhirgate', auth, 200],
    ['fhirgate', {}, 401],
    ['plain', auth, 200],
    ['plain', {}, 200],
    ['noop-authz', auth, 200],
    ['noop-authz', {}, 200],
    ['noop-h2-authz', {}, 200],
  ];
  for (const [arm, headers, want] of expect) {
    const got = await status(`${arms[arm].url}${BENCH_PATH}`, headers);
    if (got !== want) throw new Error(`sanity: ${arm} arm answered ${got}, expected ${want} (${Object.keys(headers).length > 0 ? 'with' : 'without'} token)`);
  }
}

/**
 * P50 and P99 (cumulative, ms) of an Envoy histogram from the admin /stats text, e.g. the
 * ext_authz cluster's upstream_rq_time: how long Envoy waited for fhirgate-authz's answer.
 * Envoy records this in whole milliseconds, so read it as coarse.
 */
export function envoyHistogramPercentiles(text: string, name: string): { p50Ms: number; p99Ms: number } | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}: `));
  if (line === undefined) return undefined;
  const at = (p: string): number => {
    const m = new RegExp(`\\bP${p.replace('.', '\\.')}\\(([^,]+),([^)]+)\\)`).exec(line);
    return m === null ? Number.NaN : Number(m[2]);
  };
  return { p50Ms: at('50'), p99Ms: at('99') };
}

export function envoyProblems(f: FortioSummary): string[] {
  const total = Object.values(f.codes).reduce((a, b) => a + b, 0);
  const ok = f.codes['200'] ?? 0;
  return ok === total && total > 0 ? [] : [`${total - ok} of ${total} responses were not 200`];
}

/** Medians per arm and the added latency per round (fhirgate − plain), then its median. */
export function summarizeEnvoy(runs: readonly EnvoyRun[]): {
  arms: Array<{ arm: EnvoyArm; p50Ms: number; p90Ms: number; p99Ms: number; qps: number; envoyUs: number; sidecarUs: number; runs: number }>;
  addedP50Ms: number;
  addedP99Ms: number;
  /** The same for the no-op ext_authz servers: what the gRPC hop alone adds (grpc-js; ours). */
  noopAddedP50Ms: number;
  noopAddedP99Ms: number;
  noopH2AddedP50Ms: number;
  noopH2AddedP99Ms: number;
} {
  const valid = runs.filter((r) => r.problems.length === 0);
  const arms: ReturnType<typeof summarizeEnvoy>['arms'] = [];
  for (const arm of ARMS) {
    const rs = valid.filter((r) => r.arm === arm);
    if (rs.length === 0) continue;
    arms.push({
      arm,
      p50Ms: median(rs.map((r) => r.fortio.p50Ms)),
      p90Ms: median(rs.map((r) => r.fortio.p90Ms)),
      p99Ms: median(rs.map((r) => r.fortio.p99Ms)),
      qps: median(rs.map((r) => r.fortio.actualQps)),
      envoyUs: median(rs.map((r) => r.envoyUsPerRequest)),
      sidecarUs: rs.some((r) => r.sidecarUsPerRequest !== undefined) ? median(rs.map((r) => r.sidecarUsPerRequest ?? Number.NaN)) : Number.NaN,
      runs: rs.length,
    });
  }
  const added = (pick: (f: FortioSummary) => number, arm: EnvoyArm = 'fhirgate'): number => {
    const ds: number[] = [];
    for (const round of new Set(valid.map((r) => r.round))) {
      const a = valid.find((r) => r.round === round && r.arm === arm);
      const b = valid.find((r) => r.round === round && r.arm === 'plain');
      if (a !== undefined && b !== undefined) ds.push(pick(a.fortio) - pick(b.fortio));
    }
    return ds.length === 0 ? Number.NaN : median(ds);
  };
  return {
    arms,
    addedP50Ms: added((f) => f.p50Ms),
    addedP99Ms: added((f) => f.p99Ms),
    noopAddedP50Ms: added((f) => f.p50Ms, 'noop-authz'),
    noopAddedP99Ms: added((f) => f.p99Ms, 'noop-authz'),
    noopH2AddedP50Ms: added((f) => f.p50Ms, 'noop-h2-authz'),
    noopH2AddedP99Ms: added((f) => f.p99Ms, 'noop-h2-authz'),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      rounds: { type: 'string', default: '2' },
      qps: { type: 'string', default: '500' },
      seconds: { type: 'string', default: '20' },
      connections: { type: 'string', default: '8' },
      'warmup-seconds': { type: 'string', default: '10' },
      'authz-node-flags': { type: 'string' },
    },
    strict: true,
  });
  if (values.out === undefined) throw new TypeError('--out DIR is required');
  const int = (v: string | undefined, name: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new TypeError(`--${name} must be an integer in ${min}..${max}`);
    return n;
  };
  const s: Settings = {
    out: path.resolve(values.out),
    rounds: int(values.rounds, 'rounds', 1, 10),
    qps: int(values.qps, 'qps', 1, 20_000),
    seconds: int(values.seconds, 'seconds', 1, 600),
    connections: int(values.connections, 'connections', 1, 256),
    warmupSeconds: int(values['warmup-seconds'], 'warmup-seconds', 0, 600),
    authzNodeFlags: values['authz-node-flags']?.split(/\s+/).filter((f) => f !== ''),
  };
  mkdirSync(s.out, { recursive: true });
  const fortio = goTool('fortio');
  const envoyBin = resolveEnvoyBin();
  const work = mkdtempSync(path.join(tmpdir(), 'fhirgate-bench-envoy-'));
  let stack: Stack | undefined;
  const extra: Array<{ stop(): Promise<unknown> }> = [];
  try {
    stack = await startStack({
      workDir: work,
      envoyBin,
      authzLogLevel: 'warn',
      envoyLogLevel: 'warn',
      ...(s.authzNodeFlags === undefined ? {} : { authzNodeFlags: s.authzNodeFlags }),
    });
    const plain = await startSiblingEnvoy('plain', withoutExtAuthz(stack.bootstrap, path.join(work, 'access-plain.log')), work, envoyBin);
    extra.push(plain.proc);
    const noop = await startNoop(work, undefined, 65536);
    extra.push(noop);
    const noopPort = Number(noop.grpc.slice(noop.grpc.lastIndexOf(':') + 1));
    const viaNoop = await startSiblingEnvoy('noop-authz', withAuthzPort(stack.bootstrap, noopPort, path.join(work, 'access-noop.log')), work, envoyBin);
    extra.push(viaNoop.proc);
    const noopH2 = await startNoop(work, undefined, 65536, [], 'fhirgate');
    extra.push(noopH2);
    const noopH2Port = Number(noopH2.grpc.slice(noopH2.grpc.lastIndexOf(':') + 1));
    const viaNoopH2 = await startSiblingEnvoy('noop-h2-authz', withAuthzPort(stack.bootstrap, noopH2Port, path.join(work, 'access-noop-h2.log')), work, envoyBin);
    extra.push(viaNoopH2.proc);
    const pid = (p: ManagedProcess): number => {
      if (p.pid === undefined) throw new Error(`${p.name} has no pid`);
      return p.pid;
    };
    const arms: Record<EnvoyArm, Arm> = {
      fhirgate: { url: stack.envoyUrl, envoyPid: pid(stack.envoy) },
      plain: { url: plain.url, envoyPid: pid(plain.proc) },
      'noop-authz': { url: viaNoop.url, envoyPid: pid(viaNoop.proc) },
      'noop-h2-authz': { url: viaNoopH2.url, envoyPid: pid(viaNoopH2.proc) },
    };
    const sidecarPid = pid(stack.sidecar);
    const token = await stack.issuer.mint('patient-app');
    await sanity(arms, token);
    const load = (arm: EnvoyArm, seconds: number): Parameters<typeof runFortio>[1] => ({
      url: `${arms[arm].url}${BENCH_PATH}`,
      qps: s.qps,
      seconds,
      connections: s.connections,
      headers: [['authorization', `Bearer ${token}`]],
    });
    // Warm-up every arm at the measured rate; not measured. Long enough for the servers to reach
    // steady state: JIT, Envoy connection pools, the token cache, and the first full GC of the
    // sidecar, which collects what start-up left (compiling the FHIR schema leaves ~100 MB of
    // garbage). With 3 s, every ext_authz arm read worse in the first round than in the second.
    for (const arm of ARMS) if (s.warmupSeconds > 0) await runFortio(fortio, load(arm, s.warmupSeconds));

    const runs: EnvoyRun[] = [];
    for (let round = 1; round <= s.rounds; round++) {
      const order: EnvoyArm[] = round % 2 === 1 ? [...ARMS] : [...ARMS].reverse();
      for (const arm of order) {
        process.stderr.write(`envoy: round ${round} ${arm} (${s.qps} qps, ${s.seconds} s)\n`);
        const e0 = processCpuSeconds(arms[arm].envoyPid);
        const a0 = processCpuSeconds(sidecarPid);
        const pressure = cpuPressureMeter();
        const upstream0 = stack.fhir.requestCount;
        const gc0 = arm === 'fhirgate' ? await scrapeGc(`${stack.authzHttpUrl}/metrics`) : undefined;
        const { summary, raw } = await runFortio(fortio, load(arm, s.seconds));
        const envoyCpu = processCpuSeconds(arms[arm].envoyPid) - e0;
        const sidecarCpu = processCpuSeconds(sidecarPid) - a0;
        const pressurePct = pressure.pct();
        const gc1 = gc0 === undefined ? undefined : await scrapeGc(`${stack.authzHttpUrl}/metrics`);
        const upstreamPerRequest = (stack.fhir.requestCount - upstream0) / summary.count;
        writeFileSync(path.join(s.out, `envoy-r${round}-${arm}.raw`), raw);
        const r: EnvoyRun = {
          round,
          arm,
          fortio: summary,
          envoyUsPerRequest: (envoyCpu * 1e6) / summary.count,
          sidecarUsPerRequest: arm === 'fhirgate' ? (sidecarCpu * 1e6) / summary.count : undefined,
          ...(pressurePct === undefined ? {} : { cpuPressurePct: pressurePct }),
          upstreamPerRequest,
          ...(gc0 === undefined || gc1 === undefined
            ? {}
            : {
                sidecarGc: {
                  minorCount: gc1.minorCount - gc0.minorCount,
                  minorMs: (gc1.minorSeconds - gc0.minorSeconds) * 1e3,
                  majorCount: gc1.majorCount - gc0.majorCount,
                  majorMs: (gc1.majorSeconds - gc0.majorSeconds) * 1e3,
                },
              }),
          problems: envoyProblems(summary),
        };
        runs.push(r);
        process.stderr.write(
          `envoy:   p50 ${summary.p50Ms.toFixed(3)} ms, p99 ${summary.p99Ms.toFixed(3)} ms, ${summary.actualQps.toFixed(0)} qps, CPU pressure ${pressurePct?.toFixed(0) ?? '?'}%, upstream requests/request ${upstreamPerRequest.toFixed(2)}${r.sidecarGc === undefined ? '' : `, sidecar GC ${r.sidecarGc.minorCount} minor (${r.sidecarGc.minorMs.toFixed(0)} ms) ${r.sidecarGc.majorCount} major (${r.sidecarGc.majorMs.toFixed(0)} ms)`}${r.problems.length > 0 ? ` INVALID: ${r.problems.join('; ')}` : ''}\n`,
        );
      }
    }
    const stats = await probeHttp(`${stack.adminUrl}/stats?filter=${encodeURIComponent('^cluster\\.fhirgate_authz\\.upstream_rq_time$')}`);
    const authzCall = stats?.status === 200 ? envoyHistogramPercentiles(stats.body, 'cluster.fhirgate_authz.upstream_rq_time') : undefined;
    const result = { settings: { ...s, out: undefined }, runs, summary: summarizeEnvoy(runs), authzCall };
    writeFileSync(path.join(s.out, 'envoy.json.raw'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    while (extra.length > 0) await extra.pop()?.stop();
    await stack?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, 'envoy', main);
