/**
 * Reading a few counters from fhirgate-authz's /metrics, so the benchmark can prove what it
 * measured: every call allowed (not a cheap denial), and cache hits or misses as intended.
 */

/**
 * Sum of the samples of `name` whose labels include every pair in `labels`, from Prometheus text
 * exposition. Absent series count as 0.
 */
export function sumSamples(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    let labelText = '';
    let valueText: string;
    if (rest.startsWith('{')) {
      const close = rest.indexOf('}');
      if (close === -1) continue;
      labelText = rest.slice(1, close);
      valueText = rest.slice(close + 1);
    } else if (rest.startsWith(' ')) {
      valueText = rest;
    } else {
      continue; // a longer metric name sharing the prefix
    }
    const have = new Map<string, string>();
    for (const m of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(m[1] as string, m[2] as string);
    if (!Object.entries(labels).every(([k, v]) => have.get(k) === v)) continue;
    const value = Number(valueText.trim().split(/\s+/)[0]);
    if (Number.isFinite(value)) total += value;
  }
  return total;
}

export interface SidecarCounters {
  readonly allowed: number;
  readonly denied: number;
  readonly cacheHits: number;
  readonly cacheMisses: number;
}

export function sidecarCounters(text: string): SidecarCounters {
  return {
    allowed: sumSamples(text, 'fhirgate_decisions_total', { decision: 'allow' }),
    denied: sumSamples(text, 'fhirgate_decisions_total', { decision: 'deny' }),
    cacheHits: sumSamples(text, 'fhirgate_token_cache_hits_total'),
    cacheMisses: sumSamples(text, 'fhirgate_token_cache_misses_total'),
  };
}

/** Scrape the counters (bounded by a timeout). */
export async function scrapeCounters(metricsUrl: string): Promise<SidecarCounters> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  return sidecarCounters(await res.text());
}

/** Garbage-collection pauses of the process, from prom-client's default nodejs_gc_duration_seconds. */
export interface GcTotals {
  readonly minorCount: number;
  readonly minorSeconds: number;
  readonly majorCount: number;
  readonly majorSeconds: number;
}

export function gcTotals(text: string): GcTotals {
  const n = (suffix: 'count' | 'sum', kinds: readonly string[]): number =>
    kinds.reduce((a, kind) => a + sumSamples(text, `nodejs_gc_duration_seconds_${suffix}`, { kind }), 0);
  // "incremental" marking steps and "major" (mark-compact) pauses both belong to the old generation.
  return { minorCount: n('count', ['minor']), minorSeconds: n('sum', ['minor']), majorCount: n('count', ['major', 'incremental']), majorSeconds: n('sum', ['major', 'incremental']) };
}

export async function scrapeGc(metricsUrl: string): Promise<GcTotals> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  return gcTotals(await res.text());
}
