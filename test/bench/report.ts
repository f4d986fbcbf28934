#!/usr/bin/env node
/**
 * Turns the JSON results of check.ts and envoy.ts into test/bench/results/latest.md: machine
 * facts first (a figure without its machine and load is meaningless), then the targets with a
 * PASS/FAIL each, then the per-arm tables and every round, so a reader can see the spread.
 *
 *   node test/bench/report.ts --dir RESULTS_DIR --load-start "0.52 0.60 0.71" [--envoy-bin PATH]
 *
 * Either result file may be missing (a partial run); its section then says so.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { summarize } from './check.ts';
import type { ArmRun, JoseRun } from './check.ts';
import type { EnvoyRun, summarizeEnvoy } from './envoy.ts';
import { fmt, median, verdict } from './lib/stats.ts';
import { REPO_ROOT, goTool } from './lib/tools.ts';
import { runIfMain } from './lib/proc.ts';

export interface CheckFile {
  readonly settings: Readonly<Record<string, number | string | boolean>>;
  readonly runs: readonly ArmRun[];
  readonly jose: readonly JoseRun[];
  readonly summary: ReturnType<typeof summarize>;
}

export interface EnvoyFile {
  readonly settings: Readonly<Record<string, number | string | undefined>>;
  readonly runs: readonly EnvoyRun[];
  readonly summary: ReturnType<typeof summarizeEnvoy>;
  /** Envoy's own view of the ext_authz call (cluster upstream_rq_time, whole ms, all runs). */
  readonly authzCall?: { readonly p50Ms: number; readonly p99Ms: number };
}

export interface MachineInfo {
  readonly date: string;
  readonly commit: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly envoy: string;
  readonly ghz: string;
  readonly fortio: string;
  readonly loadStart: string;
  readonly loadEnd: string;
}

const ARM_LABEL: Readonly<Record<string, string>> = {
  noop: 'no-op grpc-js handler',
  'noop-h2': "no-op on fhirgate's own gRPC transport",
  cached: 'fhirgate, token cached (audit to stdout, the default)',
  'cached-file': 'fhirgate, token cached, audit to a file',
  'cached-noaudit': 'fhirgate, token cached, audit off',
  uncached: 'fhirgate, every token new (RS256)',
  plain: 'Envoy alone',
  'noop-authz': 'Envoy + ext_authz → no-op grpc-js server',
  'noop-h2-authz': "Envoy + ext_authz → no-op on fhirgate's own transport",
  fhirgate: 'Envoy + ext_authz → fhirgate',
};

const ms = (v: number): string => fmt(v, 3);
const pct = (v: number | undefined): string => (v === undefined ? '—' : `${fmt(v, 0)} %`);

/** One line on how contended the CPUs were during the measured runs (PSI), for reading the figures. */
function pressureLine(values: ReadonlyArray<number | undefined>): string[] {
  const xs = values.filter((v): v is number => v !== undefined);
  if (xs.length === 0) return [];
  return [
    `CPU pressure during the measured runs (share of wall time some task waited for a CPU, /proc/pressure/cpu): median ${fmt(median(xs), 0)} %, max ${fmt(Math.max(...xs), 0)} %. Above a few percent, absolute latencies include queueing behind other work on the machine.`,
    '',
  ];
}

export function checkSection(c: CheckFile | undefined): string[] {
  if (c === undefined) return ['## Check (ghz → Authorization/Check)', '', '_Not run (no check.json.raw)._', ''];
  const st = c.settings;
  const out = [
    '## Check (ghz → Authorization/Check)',
    '',
    `Each arm in a fresh server process${st['pinned'] === true ? ', server pinned to CPU 1 and ghz to CPU 0' : ' (not pinned: taskset missing or one CPU)'}; ` +
      `${st['rounds']} rounds, arm order alternating. CPU per call = server utime+stime over the measured run ÷ calls. ` +
      `Saturation runs: ${st['concurrency']} concurrent calls on one connection; cached arms ${st['cachedCalls']} calls, uncached ${st['tokens']} calls each with a token never seen before. ` +
      `Fixed-rate runs: ${st['fixedCalls']} calls at ${st['rps']} calls/s. Every fhirgate run is checked against the sidecar's own counters (all allowed; cache hits or misses as intended).`,
    '',
    '| target | measured (median of per-round ratios) | result |',
    '|---|---|---|',
    `| cached Check CPU ≤ 1.3× no-op handler | ${fmt(c.summary.cachedOverNoop, 2)}× | ${verdict(c.summary.cachedOverNoop, '<=', 1.3)} |`,
    `| (for reference) cached Check CPU ÷ a no-op on fhirgate's own transport (what the decision costs above our floor) | ${fmt(c.summary.cachedOverNoopH2, 2)}× | — |`,
    `| uncached RS256 rate ≥ 0.8× jose raw verify (whole Check over gRPC) | ${fmt(c.summary.uncachedOverJose, 2)}× | ${verdict(c.summary.uncachedOverJose, '>=', 0.8)} |`,
    `| the same for the token layer alone (in-process, the part a verifier can be compared on) | ${fmt(c.summary.tokenLayerOverJose, 2)}× | ${verdict(c.summary.tokenLayerOverJose, '>=', 0.8)} |`,
    `| (for reference) the most a whole Check could reach if only the transport and the token layer cost anything: jose ÷ (no-op on our transport + token layer) | ${fmt(c.summary.uncachedCeilingOverJose, 2)}× | — |`,
    '',
    ...pressureLine(c.runs.map((r) => r.cpuPressurePct)),
    '### At saturation',
    '',
    '| arm | CPU µs/call | calls/s per core | calls/s (ghz) | p50 ms | p99 ms | valid runs |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const a of c.summary.arms.filter((x) => x.phase === 'max')) {
    out.push(`| ${ARM_LABEL[a.arm] ?? a.arm} | ${fmt(a.usPerCall)} | ${fmt(a.perCore, 0)} | ${fmt(a.rps, 0)} | ${ms(a.p50Ms)} | ${ms(a.p99Ms)} | ${a.runs} |`);
  }
  out.push(
    `| jose jwtVerify RS256, in-process | ${fmt(1e6 / c.summary.joseRate)} | ${fmt(c.summary.joseRate, 0)} | — | — | — | ${c.jose.length} |`,
    `| fhirgate token layer only (Authenticator, new tokens), in-process | ${fmt(c.summary.authnUsPerToken)} | ${fmt(1e6 / c.summary.authnUsPerToken, 0)} | — | — | — | ${c.jose.filter((j) => j.authnUsPerToken !== undefined).length} |`,
    '',
    `### At a fixed rate (${st['rps']} calls/s)`,
    '',
    '| arm | p50 ms | p99 ms | calls/s | CPU µs/call | valid runs |',
    '|---|---:|---:|---:|---:|---:|',
  );
  for (const a of c.summary.arms.filter((x) => x.phase === 'fixed')) {
    out.push(`| ${ARM_LABEL[a.arm] ?? a.arm} | ${ms(a.p50Ms)} | ${ms(a.p99Ms)} | ${fmt(a.rps, 0)} | ${fmt(a.usPerCall)} | ${a.runs} |`);
  }
  out.push('', '<details><summary>Every run</summary>', '', '| round | arm | phase | calls | CPU µs/call | calls/s | p50 ms | p99 ms | CPU pressure | problems |', '|---:|---|---|---:|---:|---:|---:|---:|---:|---|');
  for (const r of c.runs) {
    out.push(
      `| ${r.round} | ${r.arm} | ${r.phase} | ${r.ghz.count} | ${fmt(r.usPerCall)} | ${fmt(r.ghz.rps, 0)} | ${ms(r.ghz.p50Ms)} | ${ms(r.ghz.p99Ms)} | ${pct(r.cpuPressurePct)} | ${r.problems.join('; ') || '—'} |`,
    );
  }
  for (const j of c.jose) {
    out.push(`| ${j.round} | jose raw | — | ${j.verified} | ${fmt(j.usPerVerify)} | ${fmt(j.perCpuSecond, 0)}/CPU-s | — | — | — | — |`);
    if (j.authnUsPerToken !== undefined) out.push(`| ${j.round} | token layer | — | ${j.verified} | ${fmt(j.authnUsPerToken)} | — | — | — | — | — |`);
  }
  out.push('', '</details>', '');
  return out;
}

export function envoySection(e: EnvoyFile | undefined): string[] {
  if (e === undefined) return ['## Through Envoy (fortio)', '', '_Not run (no envoy.json.raw)._', ''];
  const st = e.settings;
  const out = [
    '## Through Envoy (fortio)',
    '',
    `Four Envoys from the same generated bootstrap in front of the same sample FHIR server: ext_authz → fhirgate-authz (the dev stack as \`make demo\` runs it: cached token, audit to stdout), the ext_authz filter removed, and ext_authz → each no-op server, grpc-js's and one on fhirgate's own transport (the cost of the gRPC hop without any decision). ` +
      `fortio at ${st['qps']} qps for ${st['seconds']} s on ${st['connections']} connections per run${typeof st['warmupSeconds'] === 'number' ? `, after ${st['warmupSeconds']} s of warm-up per arm` : ''}, ${st['rounds']} rounds interleaved (A B C D, then D C B A, …); added latency = fhirgate arm − plain arm within a round, median over rounds.`,
    '',
    '| target | measured | result |',
    '|---|---|---|',
    `| added p50 ≤ 0.5 ms | ${ms(e.summary.addedP50Ms)} ms | ${verdict(e.summary.addedP50Ms, '<=', 0.5)} |`,
    `| added p99 ≤ 2 ms | ${ms(e.summary.addedP99Ms)} ms | ${verdict(e.summary.addedP99Ms, '<=', 2)} |`,
    `| (for reference) added by ext_authz → no-op grpc-js server: p50 / p99 | ${ms(e.summary.noopAddedP50Ms)} / ${ms(e.summary.noopAddedP99Ms)} ms | — |`,
    `| (for reference) added by ext_authz → no-op on fhirgate's transport: p50 / p99 | ${ms(e.summary.noopH2AddedP50Ms)} / ${ms(e.summary.noopH2AddedP99Ms)} ms | — |`,
    '',
    ...pressureLine(e.runs.map((r) => r.cpuPressurePct)),
    '| arm | p50 ms | p90 ms | p99 ms | qps | Envoy CPU µs/req | fhirgate-authz CPU µs/req | valid runs |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const a of e.summary.arms) {
    out.push(
      `| ${ARM_LABEL[a.arm] ?? a.arm} | ${ms(a.p50Ms)} | ${ms(a.p90Ms)} | ${ms(a.p99Ms)} | ${fmt(a.qps, 0)} | ${fmt(a.envoyUs)} | ${fmt(a.sidecarUs)} | ${a.runs} |`,
    );
  }
  if (e.authzCall !== undefined) {
    out.push(
      '',
      `Envoy's own timing of the ext_authz call (\`cluster.fhirgate_authz.upstream_rq_time\`, whole-millisecond buckets, all fhirgate-arm requests incl. warm-up): p50 ${ms(e.authzCall.p50Ms)} ms, p99 ${ms(e.authzCall.p99Ms)} ms.`,
    );
  }
  out.push('', '<details><summary>Every run</summary>', '', '| round | arm | requests | p50 ms | p90 ms | p99 ms | p99.9 ms | CPU pressure | FHIR server requests per request | problems |', '|---:|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of e.runs) {
    const f = r.fortio;
    out.push(
      `| ${r.round} | ${r.arm} | ${f.count} | ${ms(f.p50Ms)} | ${ms(f.p90Ms)} | ${ms(f.p99Ms)} | ${ms(f.p999Ms)} | ${pct(r.cpuPressurePct)} | ${fmt(r.upstreamPerRequest ?? Number.NaN, 2)} | ${r.problems.join('; ') || '—'} |`,
    );
  }
  out.push('', '</details>', '');
  return out;
}

export function render(m: MachineInfo, c: CheckFile | undefined, e: EnvoyFile | undefined): string {
  return [
    '# fhirgate benchmark results',
    '',
    'Generated by `make bench` (test/bench/run.sh). Ratios are measured side by side in the same run; absolute figures move with the machine\'s background load (see load average).',
    '',
    '| | |',
    '|---|---|',
    `| date | ${m.date} |`,
    `| commit | ${m.commit} |`,
    `| CPUs (nproc) | ${m.cpus} × ${m.cpuModel} |`,
    `| load average (1/5/15 min) at start | ${m.loadStart} |`,
    `| load average at end | ${m.loadEnd} |`,
    `| Node.js | ${m.node} |`,
    `| Envoy | ${m.envoy} |`,
    `| ghz / fortio | ${m.ghz} / ${m.fortio} |`,
    '',
    ...checkSection(c),
    ...envoySection(e),
  ].join('\n');
}

/** First line a command prints on stdout or stderr (ghz prints its version on stderr), or ''. */
function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  if (r.error !== undefined) return '';
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '';
}

function machineInfo(loadStart: string, envoyBin: string | undefined): MachineInfo {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? '?';
  const dirty = firstLine('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--untracked-files=no']) === '' ? '' : ' (plus uncommitted changes)';
  const la = loadavg().map((x) => x.toFixed(2)).join(' ');
  const envoyVersion = envoyBin === undefined ? '?' : (/version: (\S+)/.exec(firstLine(envoyBin, ['--version']))?.[1] ?? '?');
  return {
    date: new Date().toISOString(),
    commit: `${firstLine('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD']) || '?'}${dirty}`,
    cpus: availableParallelism(),
    cpuModel: model,
    node: process.version,
    envoy: envoyVersion,
    ghz: firstLine(goTool('ghz'), ['--version']) || '?',
    fortio: firstLine(goTool('fortio'), ['version']) || '?',
    loadStart,
    loadEnd: la,
  };
}

function readJson<T>(file: string): T | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { dir: { type: 'string' }, 'load-start': { type: 'string', default: '?' }, 'envoy-bin': { type: 'string' } },
    strict: true,
  });
  if (values.dir === undefined) throw new TypeError('--dir is required');
  const dir = path.resolve(values.dir);
  // Summaries are recomputed from the runs, so a report written by a newer harness reads older raw files too.
  const check = readJson<CheckFile>(path.join(dir, 'check.json.raw'));
  const md = render(
    machineInfo(values['load-start'], values['envoy-bin'] ?? process.env['ENVOY_BIN']),
    check === undefined ? undefined : { ...check, summary: summarize(check) },
    readJson<EnvoyFile>(path.join(dir, 'envoy.json.raw')),
  );
  writeFileSync(path.join(dir, 'latest.md'), `${md}\n`);
  process.stdout.write(`${md}\n`);
}

runIfMain(import.meta.url, 'report', main);
