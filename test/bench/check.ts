#!/usr/bin/env node
/**
 * The Check benchmark: ghz against envoy.service.auth.v3.Authorization/Check, side by side in one
 * run, for
 *   - noop       a grpc-js server whose handler does nothing (the transport floor, stock codec);
 *   - noop-h2    a no-op on fhirgate-authz's own transport (src/grpc/server.ts + src/envoy/codec.ts):
 *                what the decision costs above our own floor;
 *   - cached     fhirgate-authz, one token reused (every call a verified-token cache hit);
 *     Audit events go to stdout, the default sink (in Kubernetes the container runtime collects
 *     them; here the benchmark process reads the pipe);
 *   - cached-file     the same with the audit sink writing a file instead;
 *   - cached-noaudit  the same with the audit sink off (how much of the cost is the audit event);
 *   - uncached   fhirgate-authz, every call a token it has never seen (RS256 verify each time);
 * plus jose's own RS256 verify rate over the same tokens, in-process.
 *
 * Each arm runs in a fresh server process pinned to CPU 1 (ghz on CPU 0) when taskset exists.
 * CPU per call comes from the server's /proc utime+stime around the measured run, which is what
 * the targets are stated in; wall-clock figures (max rate, p50/p99 at a fixed rate) are reported
 * beside it. Rounds alternate the arm order so slow drift on a shared machine hits every arm.
 * Every measured fhirgate run is checked against the sidecar's own counters: all calls allowed,
 * and cache hits (or misses) exactly as intended — otherwise the run is marked invalid.
 *
 *   node test/bench/check.ts --out DIR [--rounds 2] [--tokens 20000] [--cached-calls 30000]
 *        [--fixed-calls 5000] [--rps 500] [--concurrency 16]
 *        [--arms noop,noop-h2,cached,cached-file,cached-noaudit,uncached] [--phases max,fixed] [--cpu-prof DIR]
 *        [--node-flags "--flag …"]
 *
 * --arms/--phases run a subset (for iterating on one figure; the report needs all of them), and
 * --cpu-prof writes a V8 CPU profile of every server process into DIR (figures measured with the
 * profiler on are inflated; use it to find where time goes, not to state results). --node-flags
 * passes V8/Node flags to every server process (e.g. GC tuning experiments).
 *
 * Writes DIR/check.json.raw (results) and the (token-free) ghz reports as DIR/check-*.raw.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sidecarConfig } from '../../src/cli/dev/sidecar-config.ts';
import { BenchIssuer } from './lib/bench-issuer.ts';
import { checkRequestJson, checkRequestObject } from './lib/check-request.ts';
import { runGhz } from './lib/ghz.ts';
import type { GhzSummary } from './lib/ghz.ts';
import { cpuPressureMeter, processCpuSeconds, processSystemCpuSeconds, runIfMain } from './lib/proc.ts';
import { scrapeCounters } from './lib/prom.ts';
import type { SidecarCounters } from './lib/prom.ts';
import { checkOnce, startNoop, startSidecar } from './lib/servers.ts';
import type { RunningServer } from './lib/servers.ts';
import { median } from './lib/stats.ts';
import { REPO_ROOT, canPin, goTool, pinned, runTool } from './lib/tools.ts';

export type ArmId = 'noop' | 'noop-h2' | 'cached' | 'cached-file' | 'cached-noaudit' | 'uncached';
export type Phase = 'max' | 'fixed';

export interface ArmRun {
  readonly round: number;
  readonly arm: ArmId;
  readonly phase: Phase;
  readonly ghz: GhzSummary;
  readonly cpuSeconds: number;
  readonly usPerCall: number;
  /** The kernel's share of usPerCall (system time: syscalls, loopback networking, page cache). */
  readonly sysUsPerCall?: number;
  /** Sidecar counter deltas over the measured run (undefined for the no-op server). */
  readonly counters: SidecarCounters | undefined;
  /** % of the run's wall time some task on the machine waited for a CPU (PSI); undefined without PSI. */
  readonly cpuPressurePct?: number;
  /** Why this run does not measure what it claims; empty when valid. */
  readonly problems: readonly string[];
}

export interface JoseRun {
  readonly round: number;
  readonly verified: number;
  readonly perCpuSecond: number;
  readonly usPerVerify: number;
  /** fhirgate's token layer (Authenticator.authenticate) over the same tokens, µs CPU per token. */
  readonly authnUsPerToken?: number;
}

export interface CheckBenchResult {
  readonly settings: Readonly<Record<string, number | string | boolean>>;
  readonly runs: readonly ArmRun[];
  readonly jose: readonly JoseRun[];
}

const SERVER_CPU = 1;
const LOAD_CPU = 0;
const MAX_BODY = 65536;

interface Settings {
  readonly out: string;
  readonly rounds: number;
  readonly tokens: number;
  readonly warmupTokens: number;
  readonly cachedCalls: number;
  readonly fixedCalls: number;
  readonly rps: number;
  readonly concurrency: number;
  readonly arms: readonly ArmId[];
  readonly phases: readonly Phase[];
  /** Directory for V8 CPU profiles of the server processes; undefined: no profiling. */
  readonly cpuProf: string | undefined;
  /** Extra Node/V8 flags for every server process. */
  readonly nodeFlags: readonly string[];
}

const ALL_ARMS: readonly ArmId[] = ['noop', 'noop-h2', 'cached', 'cached-file', 'cached-noaudit', 'uncached'];
const ALL_PHASES: readonly Phase[] = ['max', 'fixed'];

/** A comma-separated subset of `all`, in `all`'s order; throws on an unknown name. */
export function subsetOption<T extends string>(v: string | undefined, name: string, all: readonly T[]): T[] {
  if (v === undefined || v === '') return [...all];
  const want = v.split(',').map((x) => x.trim());
  for (const w of want) if (!(all as readonly string[]).includes(w)) throw new TypeError(`--${name}: unknown ${JSON.stringify(w)} (one of ${all.join(', ')})`);
  return all.filter((a) => want.includes(a));
}

function intOption(v: string | undefined, name: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new TypeError(`--${name} must be an integer in ${min}..${max}`);
  return n;
}

/** What the counters must show for a measured run of `calls` calls of this arm. */
export function counterProblems(arm: ArmId, calls: number, d: SidecarCounters | undefined): string[] {
  if (arm === 'noop' || arm === 'noop-h2') return [];
  if (d === undefined) return ['no sidecar counters'];
  const p: string[] = [];
  if (d.allowed !== calls) p.push(`allowed ${d.allowed} of ${calls} calls`);
  if (d.denied !== 0) p.push(`${d.denied} denials`);
  if (arm === 'uncached' && d.cacheMisses !== calls) p.push(`cache misses ${d.cacheMisses}, expected ${calls}`);
  if (arm !== 'uncached' && d.cacheHits !== calls) p.push(`cache hits ${d.cacheHits}, expected ${calls}`);
  return p;
}

function delta(a: SidecarCounters, b: SidecarCounters): SidecarCounters {
  return {
    allowed: b.allowed - a.allowed,
    denied: b.denied - a.denied,
    cacheHits: b.cacheHits - a.cacheHits,
    cacheMisses: b.cacheMisses - a.cacheMisses,
  };
}

class CheckBench {
  readonly #s: Settings;
  readonly #work: string;
  readonly #ghz: string;
  readonly #pin: boolean;
  #issuer!: BenchIssuer;
  #files!: { cached: string; warmup: string; uncached: string; tokens: string; jwks: string; authConfig: string };
  #sanityTokens!: { cached: string; uncached: string };
  readonly runs: ArmRun[] = [];
  readonly jose: JoseRun[] = [];

  constructor(s: Settings, work: string) {
    this.#s = s;
    this.#work = work;
    this.#ghz = goTool('ghz');
    this.#pin = canPin();
  }

  async prepare(): Promise<void> {
    this.#issuer = await BenchIssuer.start();
    const log = (m: string): void => void process.stderr.write(`check: ${m}\n`);
    log(`minting ${this.#s.tokens + this.#s.warmupTokens + 1} RS256 tokens`);
    const [cached] = await this.#issuer.mint('patient-app', 1);
    const warmup = await this.#issuer.mint('patient-app', this.#s.warmupTokens);
    const measured = await this.#issuer.mint('patient-app', this.#s.tokens);
    if (cached === undefined || warmup[0] === undefined) throw new Error('minting failed');
    const file = (name: string, doc: unknown): string => {
      const f = path.join(this.#work, name);
      writeFileSync(f, JSON.stringify(doc));
      return f;
    };
    this.#files = {
      cached: file('cached.json', checkRequestJson(cached)),
      warmup: file('warmup.json', warmup.map((t) => checkRequestJson(t))),
      uncached: file('uncached.json', measured.map((t) => checkRequestJson(t))),
      tokens: file('tokens.json', measured),
      jwks: file('jwks.json', this.#issuer.jwks),
      authConfig: file('auth.json', this.#config('cached')['auth']),
    };
    this.#sanityTokens = { cached, uncached: warmup[0] };
  }

  #config(arm: ArmId): Record<string, unknown> {
    const base = sidecarConfig({
      issuer: this.#issuer.issuer,
      audience: this.#issuer.audience,
      addressFile: path.join(this.#work, 'unused.json'),
      maxBodyBytes: MAX_BODY,
      logLevel: 'warn',
    });
    // Audit: stdout (the default sink) unless the arm measures the file sink or no audit at all.
    const audit =
      arm === 'cached-noaudit' ? { sink: 'none' } : arm === 'cached-file' ? { sink: 'file', file: path.join(this.#work, 'audit.jsonl') } : { sink: 'stdout' };
    return { ...base, audit };
  }

  async #start(arm: ArmId): Promise<RunningServer> {
    const cpu = this.#pin ? SERVER_CPU : undefined;
    const nodeFlags = [...this.#s.nodeFlags];
    if (this.#s.cpuProf !== undefined) nodeFlags.push('--cpu-prof', '--cpu-prof-dir', this.#s.cpuProf, '--cpu-prof-name', `${arm}-${Date.now()}.cpuprofile`);
    if (arm === 'noop' || arm === 'noop-h2') return startNoop(this.#work, cpu, MAX_BODY, nodeFlags, arm === 'noop' ? 'grpc-js' : 'fhirgate');
    return startSidecar(this.#work, cpu, this.#config(arm), nodeFlags);
  }

  /** One arm, one phase, in a fresh server process. */
  async runArm(round: number, arm: ArmId, phase: Phase): Promise<ArmRun> {
    const s = this.#s;
    const server = await this.#start(arm);
    try {
      const sanityToken = arm === 'uncached' ? this.#sanityTokens.uncached : this.#sanityTokens.cached;
      const answer = await checkOnce(server.grpc, checkRequestObject(sanityToken));
      if (answer !== 'allow') throw new Error(`${arm}: the benchmark request was denied; refusing to measure denials`);
      const cpu = this.#pin ? LOAD_CPU : undefined;
      const uncached = arm === 'uncached';
      // Warm-up: JIT, connection, caches — never measured.
      await runGhz(this.#ghz, {
        target: server.grpc,
        dataFile: uncached ? this.#files.warmup : this.#files.cached,
        calls: uncached ? s.warmupTokens : Math.min(5000, s.cachedCalls),
        concurrency: s.concurrency,
        maxSeconds: 120,
        ...(cpu === undefined ? {} : { cpu }),
      });
      const calls = phase === 'fixed' ? s.fixedCalls : uncached ? s.tokens : s.cachedCalls;
      const c0 = server.metricsUrl === undefined ? undefined : await scrapeCounters(server.metricsUrl);
      const cpu0 = processCpuSeconds(server.pid);
      const sys0 = processSystemCpuSeconds(server.pid);
      const pressure = cpuPressureMeter();
      const { summary, raw } = await runGhz(this.#ghz, {
        target: server.grpc,
        dataFile: uncached ? this.#files.uncached : this.#files.cached,
        calls,
        concurrency: phase === 'fixed' ? 8 : s.concurrency,
        maxSeconds: phase === 'fixed' ? Math.ceil(calls / s.rps) + 60 : 300,
        ...(phase === 'fixed' ? { rps: s.rps } : {}),
        ...(cpu === undefined ? {} : { cpu }),
      });
      const cpuSeconds = processCpuSeconds(server.pid) - cpu0;
      const sysSeconds = processSystemCpuSeconds(server.pid) - sys0;
      const pressurePct = pressure.pct();
      const c1 = server.metricsUrl === undefined ? undefined : await scrapeCounters(server.metricsUrl);
      writeFileSync(path.join(s.out, `check-r${round}-${arm}-${phase}.raw`), raw);
      const counters = c0 !== undefined && c1 !== undefined ? delta(c0, c1) : undefined;
      const problems = counterProblems(arm, summary.count, counters);
      if (summary.errors > 0 || summary.ok !== summary.count) problems.push(`${summary.count - summary.ok} failed calls`);
      if (summary.count !== calls) problems.push(`${summary.count} of ${calls} calls made`);
      return {
        round,
        arm,
        phase,
        ghz: summary,
        cpuSeconds,
        usPerCall: (cpuSeconds * 1e6) / summary.count,
        sysUsPerCall: (sysSeconds * 1e6) / summary.count,
        counters,
        ...(pressurePct === undefined ? {} : { cpuPressurePct: pressurePct }),
        problems,
      };
    } finally {
      await server.stop();
    }
  }

  async runJose(round: number): Promise<JoseRun> {
    const [cmd, args] = pinned(this.#pin ? SERVER_CPU : undefined, process.execPath, [
      path.join(REPO_ROOT, 'test/bench/jose-raw.ts'),
      '--tokens', this.#files.tokens,
      '--jwks', this.#files.jwks,
      '--issuer', this.#issuer.issuer,
      '--audience', this.#issuer.audience,
      '--warmup', String(Math.min(1000, Math.floor(this.#s.tokens / 10))),
      '--auth-config', this.#files.authConfig,
    ]);
    const { stdout } = await runTool(cmd, args, 600_000);
    const r = JSON.parse(stdout) as { verified: number; perCpuSecond: number; usPerVerify: number; authn: { usPerVerify: number } | null };
    return {
      round,
      verified: r.verified,
      perCpuSecond: r.perCpuSecond,
      usPerVerify: r.usPerVerify,
      ...(r.authn === null ? {} : { authnUsPerToken: r.authn.usPerVerify }),
    };
  }

  async run(): Promise<void> {
    const arms = this.#s.arms;
    for (let round = 1; round <= this.#s.rounds; round++) {
      // Alternate the order (ABBA) so a drifting background load does not favour one arm.
      const order = round % 2 === 1 ? arms : [...arms].reverse();
      for (const phase of this.#s.phases) {
        for (const arm of order) {
          if (phase === 'fixed' && (arm === 'cached-noaudit' || arm === 'cached-file')) continue;
          process.stderr.write(`check: round ${round} ${arm} ${phase}\n`);
          const r = await this.runArm(round, arm, phase);
          this.runs.push(r);
          process.stderr.write(
            `check:   ${r.usPerCall.toFixed(1)} µs CPU/call (${r.sysUsPerCall?.toFixed(1) ?? '?'} in the kernel), ${r.ghz.rps.toFixed(0)} calls/s, p50 ${r.ghz.p50Ms.toFixed(2)} ms, p99 ${r.ghz.p99Ms.toFixed(2)} ms, CPU pressure ${r.cpuPressurePct?.toFixed(0) ?? '?'}%${r.problems.length > 0 ? ` INVALID: ${r.problems.join('; ')}` : ''}\n`,
          );
        }
        if (phase === 'max' && arms.includes('uncached')) {
          const j = await this.runJose(round);
          this.jose.push(j);
          process.stderr.write(
            `check:   jose raw RS256 ${j.perCpuSecond.toFixed(0)} verifies/CPU-s (${j.usPerVerify.toFixed(1)} µs); fhirgate token layer ${j.authnUsPerToken?.toFixed(1) ?? '?'} µs/token\n`,
          );
        }
      }
    }
  }

  async close(): Promise<void> {
    await this.#issuer?.close();
  }

  get pinnedCpus(): boolean {
    return this.#pin;
  }
}

/** Median figure per (arm, phase) over valid runs, and the two target ratios per round. */
export function summarize(result: CheckBenchResult): {
  arms: Array<{ arm: ArmId; phase: Phase; usPerCall: number; perCore: number; rps: number; p50Ms: number; p99Ms: number; runs: number }>;
  cachedOverNoop: number;
  /** The same against a no-op on fhirgate's own transport (NaN when that arm did not run). */
  cachedOverNoopH2: number;
  uncachedOverJose: number;
  /**
   * The most uncachedOverJose could be if everything but the transport and the token layer cost
   * nothing: jose's verify ÷ (no-op on our transport + token layer), per round. Shows how far the
   * whole-Check reading of the target is from reach by construction.
   */
  uncachedCeilingOverJose: number;
  /** fhirgate's token layer alone (in-process, new tokens) ÷ jose's raw verify, as rates; per-round median. */
  tokenLayerOverJose: number;
  joseRate: number;
  authnUsPerToken: number;
} {
  const valid = result.runs.filter((r) => r.problems.length === 0);
  const arms: ReturnType<typeof summarize>['arms'] = [];
  for (const phase of ['max', 'fixed'] as const) {
    for (const arm of ALL_ARMS) {
      const rs = valid.filter((r) => r.arm === arm && r.phase === phase);
      if (rs.length === 0) continue;
      const us = median(rs.map((r) => r.usPerCall));
      arms.push({
        arm,
        phase,
        usPerCall: us,
        perCore: 1e6 / us,
        rps: median(rs.map((r) => r.ghz.rps)),
        p50Ms: median(rs.map((r) => r.ghz.p50Ms)),
        p99Ms: median(rs.map((r) => r.ghz.p99Ms)),
        runs: rs.length,
      });
    }
  }
  const perRound = (f: (round: number) => number | undefined): number => {
    const xs = [...new Set(result.runs.map((r) => r.round))].map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
    return xs.length === 0 ? Number.NaN : median(xs);
  };
  const us = (round: number, arm: ArmId): number | undefined =>
    valid.find((r) => r.round === round && r.arm === arm && r.phase === 'max')?.usPerCall;
  const ratio = (num: ArmId, den: ArmId): number =>
    perRound((round) => {
      const c = us(round, num);
      const n = us(round, den);
      return c === undefined || n === undefined ? undefined : c / n;
    });
  const cachedOverNoop = ratio('cached', 'noop');
  const cachedOverNoopH2 = ratio('cached', 'noop-h2');
  const uncachedOverJose = perRound((round) => {
    const u = us(round, 'uncached');
    const j = result.jose.find((x) => x.round === round)?.perCpuSecond;
    return u === undefined || j === undefined ? undefined : 1e6 / u / j;
  });
  const tokenLayerOverJose = perRound((round) => {
    const j = result.jose.find((x) => x.round === round);
    return j?.authnUsPerToken === undefined ? undefined : j.usPerVerify / j.authnUsPerToken;
  });
  const uncachedCeilingOverJose = perRound((round) => {
    const floor = us(round, 'noop-h2');
    const j = result.jose.find((x) => x.round === round);
    return floor === undefined || j?.authnUsPerToken === undefined ? undefined : j.usPerVerify / (floor + j.authnUsPerToken);
  });
  const joseRate = result.jose.length === 0 ? Number.NaN : median(result.jose.map((j) => j.perCpuSecond));
  const authn = result.jose.map((j) => j.authnUsPerToken).filter((x): x is number => typeof x === 'number');
  return { arms, cachedOverNoop, cachedOverNoopH2, uncachedOverJose, uncachedCeilingOverJose, tokenLayerOverJose, joseRate, authnUsPerToken: authn.length === 0 ? Number.NaN : median(authn) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      rounds: { type: 'string', default: '2' },
      tokens: { type: 'string', default: '20000' },
      'warmup-tokens': { type: 'string', default: '2000' },
      'cached-calls': { type: 'string', default: '30000' },
      'fixed-calls': { type: 'string', default: '5000' },
      rps: { type: 'string', default: '500' },
      concurrency: { type: 'string', default: '16' },
      arms: { type: 'string' },
      phases: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'node-flags': { type: 'string' },
    },
    strict: true,
  });
  if (values.out === undefined) throw new TypeError('--out DIR is required');
  const s: Settings = {
    out: path.resolve(values.out),
    rounds: intOption(values.rounds, 'rounds', 1, 10),
    tokens: intOption(values.tokens, 'tokens', 100, 200_000),
    warmupTokens: intOption(values['warmup-tokens'], 'warmup-tokens', 10, 50_000),
    cachedCalls: intOption(values['cached-calls'], 'cached-calls', 100, 1_000_000),
    fixedCalls: intOption(values['fixed-calls'], 'fixed-calls', 100, 200_000),
    rps: intOption(values.rps, 'rps', 1, 100_000),
    concurrency: intOption(values.concurrency, 'concurrency', 1, 256),
    arms: subsetOption(values.arms, 'arms', ALL_ARMS),
    phases: subsetOption(values.phases, 'phases', ALL_PHASES),
    cpuProf: values['cpu-prof'] === undefined ? undefined : path.resolve(values['cpu-prof']),
    nodeFlags: (values['node-flags'] ?? '').split(/\s+/).filter((f) => f !== ''),
  };
  for (const f of s.nodeFlags) if (!f.startsWith('--')) throw new TypeError(`--node-flags: ${JSON.stringify(f)} is not a flag`);
  if (s.fixedCalls > s.tokens) throw new TypeError('--fixed-calls must not exceed --tokens (each uncached call needs a new token)');
  mkdirSync(s.out, { recursive: true });
  const work = mkdtempSync(path.join(tmpdir(), 'fhirgate-bench-check-'));
  const bench = new CheckBench(s, work);
  try {
    await bench.prepare();
    await bench.run();
    const result: CheckBenchResult = {
      settings: {
        rounds: s.rounds,
        tokens: s.tokens,
        cachedCalls: s.cachedCalls,
        fixedCalls: s.fixedCalls,
        rps: s.rps,
        concurrency: s.concurrency,
        pinned: bench.pinnedCpus,
      },
      runs: bench.runs,
      jose: bench.jose,
    };
    writeFileSync(path.join(s.out, 'check.json.raw'), `${JSON.stringify({ ...result, summary: summarize(result) }, null, 2)}\n`);
  } finally {
    await bench.close();
    rmSync(work, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, 'check', main);
