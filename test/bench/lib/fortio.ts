/**
 * Driving `fortio load` at a fixed rate and reading its JSON result. Fortio is open-loop at the
 * requested QPS, which is what a latency comparison between two proxies needs: both arms get the
 * same arrival rate whatever their speed.
 */
import { runTool } from './tools.ts';

export interface FortioLoad {
  readonly url: string;
  readonly qps: number;
  readonly seconds: number;
  readonly connections: number;
  /** Extra request headers as [name, value]. Values are redacted from the raw output. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

export interface FortioSummary {
  readonly count: number;
  readonly actualQps: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly avgMs: number;
  /** HTTP status → count. */
  readonly codes: Readonly<Record<string, number>>;
}

export function fortioArgs(load: FortioLoad): string[] {
  const args = [
    'load',
    '-qps', String(load.qps),
    '-t', `${load.seconds}s`,
    '-c', String(load.connections),
    // Spread the connections' request times evenly over each period. Without it every connection
    // fires at the same instant, so "500 qps on 8 connections" arrives as 62.5 bursts of 8 per
    // second and the single-threaded sidecar's queueing of each burst dominates the latency.
    '-uniform',
    // 100 µs lowest-bucket resolution: the default 1 ms buckets are too coarse for sub-ms deltas.
    '-r', '0.0001',
    '-p', '50,90,99,99.9',
    '-json', '-',
    '-quiet',
    '-allow-initial-errors',
  ];
  for (const [name, value] of load.headers) args.push('-H', `${name}: ${value}`);
  args.push(load.url);
  return args;
}

/** The summary of a fortio JSON result. Throws when the text is not one. */
export function parseFortioResult(text: string): FortioSummary {
  const doc = JSON.parse(text) as {
    ActualQPS?: number;
    RetCodes?: Record<string, number>;
    DurationHistogram?: { Count?: number; Avg?: number; Percentiles?: Array<{ Percentile: number; Value: number }> };
  };
  const h = doc.DurationHistogram;
  if (h === undefined || typeof h.Count !== 'number' || typeof doc.ActualQPS !== 'number') throw new Error('not a fortio JSON result');
  const pct = (p: number): number => {
    const v = h.Percentiles?.find((x) => x.Percentile === p)?.Value;
    return typeof v === 'number' ? v * 1000 : Number.NaN;
  };
  return {
    count: h.Count,
    actualQps: doc.ActualQPS,
    p50Ms: pct(50),
    p90Ms: pct(90),
    p99Ms: pct(99),
    p999Ms: pct(99.9),
    avgMs: typeof h.Avg === 'number' ? h.Avg * 1000 : Number.NaN,
    codes: doc.RetCodes ?? {},
  };
}

/** Run one fortio load to completion (bounded); summary plus raw JSON with header values redacted. */
export async function runFortio(fortioBin: string, load: FortioLoad): Promise<{ summary: FortioSummary; raw: string }> {
  const { stdout } = await runTool(fortioBin, fortioArgs(load), (load.seconds + 60) * 1000);
  let raw = stdout;
  for (const [, value] of load.headers) raw = raw.split(value).join('<redacted>');
  return { summary: parseFortioResult(stdout), raw };
}
