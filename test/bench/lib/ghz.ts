/**
 * Driving ghz against envoy.service.auth.v3.Authorization/Check and reading its JSON report.
 * The report echoes the request data (tokens) and every call's details; only the summary is kept.
 */
import path from 'node:path';
import { REPO_ROOT, pinned, runTool } from './tools.ts';

export interface GhzLoad {
  readonly target: string;
  /** proto3 JSON file: one CheckRequest, or an array of them sent round-robin. */
  readonly dataFile: string;
  /** Total calls (always bounded). */
  readonly calls: number;
  readonly concurrency: number;
  /** Fixed rate in calls per second; undefined = as fast as the server answers. */
  readonly rps?: number;
  /** CPU to pin ghz to (the server gets the other one). */
  readonly cpu?: number;
  /**
   * Hard cap on the run's wall time, enforced by killing ghz. (ghz's own --max-duration makes
   * v0.121.0 ignore --total and run for the whole duration, so it is not used.)
   */
  readonly maxSeconds: number;
}

export interface GhzSummary {
  readonly count: number;
  readonly ok: number;
  readonly errors: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly averageMs: number;
}

export function ghzArgs(load: GhzLoad): string[] {
  const args = [
    '--insecure',
    '--proto', path.join(REPO_ROOT, 'proto/envoy/service/auth/v3/external_auth.proto'),
    '--import-paths', path.join(REPO_ROOT, 'proto'),
    '--call', 'envoy.service.auth.v3.Authorization.Check',
    '--data-file', load.dataFile,
    '--total', String(load.calls),
    '--concurrency', String(load.concurrency),
    '--connections', '1',
    '--timeout', '5s',
    '--format', 'json',
  ];
  if (load.cpu !== undefined) args.push('--cpus', '1');
  if (load.rps !== undefined) args.push('--rps', String(load.rps));
  args.push(load.target);
  return args;
}

const nsToMs = (ns: unknown): number => (typeof ns === 'number' ? ns / 1e6 : Number.NaN);

/** The summary of a ghz JSON report. Throws when the text is not one. */
export function parseGhzReport(text: string): GhzSummary {
  const doc = JSON.parse(text) as {
    count?: number;
    rps?: number;
    average?: number;
    statusCodeDistribution?: Record<string, number>;
    errorDistribution?: Record<string, number>;
    latencyDistribution?: Array<{ percentage: number; latency: number }> | null;
  };
  if (typeof doc.count !== 'number' || typeof doc.rps !== 'number') throw new Error('not a ghz JSON report');
  const ok = doc.statusCodeDistribution?.['OK'] ?? 0;
  const errors = Object.values(doc.errorDistribution ?? {}).reduce((a, b) => a + b, 0);
  const pct = (p: number): number => nsToMs(doc.latencyDistribution?.find((d) => d.percentage === p)?.latency);
  return { count: doc.count, ok, errors, rps: doc.rps, p50Ms: pct(50), p99Ms: pct(99), averageMs: nsToMs(doc.average) };
}

/** The report without the echoed request data and per-call details (tokens, megabytes). */
export function redactGhzReport(text: string): string {
  const doc = JSON.parse(text) as Record<string, unknown> & { options?: Record<string, unknown> };
  if (doc.options !== undefined) delete doc.options['data'];
  delete doc['details'];
  return JSON.stringify(doc, null, 2);
}

/** Run ghz to completion; the raw (redacted) report and its summary. */
export async function runGhz(ghzBin: string, load: GhzLoad): Promise<{ summary: GhzSummary; raw: string }> {
  const [cmd, args] = pinned(load.cpu, ghzBin, ghzArgs(load));
  const { stdout } = await runTool(cmd, args, load.maxSeconds * 1000);
  return { summary: parseGhzReport(stdout), raw: redactGhzReport(stdout) };
}
