/**
 * Prometheus metrics for the sidecar. Each call to {@link createMetrics} owns its own registry (no
 * process-global state), so tests and the CLI can create as many as they like.
 *
 * Every label is bounded by construction: decision and reason come from closed TypeScript unions
 * (and are checked at run time), outcome labels are small fixed sets, and the only open-ended label
 * (the issuer of a JWKS fetch) goes through a {@link BoundedLabelSet}. Nothing a client sends can
 * create a new time series.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DecisionReason } from '../core/reasons.ts';
import { REASONS, isReasonCode } from '../core/reasons.ts';
import { BoundedLabelSet } from './bounded-label.ts';

export type DecisionKind = 'allow' | 'deny';
export type JwksFetchOutcome = 'success' | 'failure';
export type IntrospectionOutcome = 'active' | 'inactive' | 'failure';
/** Why an audit event was not written (see src/audit/sink.ts). */
export type AuditDropCause = 'buffer_full' | 'write_error' | 'closed';

/** Latency buckets for a Check: most answers come from caches in well under a millisecond. */
export const CHECK_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
]);

export interface MetricsOptions {
  /** Prefix of fhirgate's own series; default 'fhirgate_'. */
  readonly prefix?: string;
  /** Register Node/process default metrics (unprefixed, as dashboards expect); default true. */
  readonly defaultMetrics?: boolean;
  /** Configured issuer names, known up front so their series exist from the first scrape. */
  readonly issuers?: readonly string[];
  /** Most distinct issuer label values; further ones are counted under 'other'. Default 64. */
  readonly maxIssuers?: number;
}

export interface FhirgateMetrics {
  /** The registry to expose: `await registry.metrics()` with `registry.contentType`. */
  readonly registry: Registry;
  /** Wall time of one Check, in seconds. */
  readonly checkDuration: { observe(seconds: number, decision: DecisionKind): void };
  /** Decisions by outcome and reason code ('allowed' for allows). */
  readonly decisions: { inc(decision: DecisionKind, reason: DecisionReason): void };
  /**
   * JWKS fetches per issuer. `issuer` must be the configured issuer's name (or its index), never a
   * value read from a token.
   */
  readonly jwksFetches: { inc(issuer: string, outcome: JwksFetchOutcome): void };
  /** Verified-token cache lookups. */
  readonly tokenCache: { hit(): void; miss(): void };
  /** RFC 7662 introspection calls by outcome. */
  readonly introspections: { inc(outcome: IntrospectionOutcome): void };
  /** Requests allowed through break-glass. */
  readonly breakGlass: { inc(): void };
  /** Checks in progress. */
  readonly inflight: { inc(): void; dec(): void };
  /** Audit events that could not be written. */
  readonly auditDropped: { inc(cause: AuditDropCause, count?: number): void };
}

const DECISION_KINDS: readonly DecisionKind[] = ['allow', 'deny'];
const JWKS_OUTCOMES: readonly JwksFetchOutcome[] = ['success', 'failure'];
const INTROSPECTION_OUTCOMES: readonly IntrospectionOutcome[] = ['active', 'inactive', 'failure'];
const AUDIT_DROP_CAUSES: readonly AuditDropCause[] = ['buffer_full', 'write_error', 'closed'];

function oneOf<T extends string>(value: T, allowed: readonly T[], what: string): T {
  if (!allowed.includes(value)) throw new TypeError(`${what}: unexpected label value`);
  return value;
}

export function createMetrics(opts: MetricsOptions = {}): FhirgateMetrics {
  const prefix = opts.prefix ?? 'fhirgate_';
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(prefix)) throw new TypeError('prefix is not a valid metric name prefix');
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  const checkDuration = new Histogram({
    name: `${prefix}check_duration_seconds`,
    help: 'Time to answer one ext_authz Check, in seconds.',
    labelNames: ['decision'] as const,
    buckets: [...CHECK_DURATION_BUCKETS],
    registers: [registry],
  });
  const decisions = new Counter({
    name: `${prefix}decisions_total`,
    help: 'Authorization decisions by decision and reason code.',
    labelNames: ['decision', 'reason'] as const,
    registers: [registry],
  });
  const jwksFetches = new Counter({
    name: `${prefix}jwks_fetches_total`,
    help: 'JWKS fetches by configured issuer and outcome.',
    labelNames: ['issuer', 'outcome'] as const,
    registers: [registry],
  });
  const tokenCacheHits = new Counter({
    name: `${prefix}token_cache_hits_total`,
    help: 'Verified-token cache hits.',
    registers: [registry],
  });
  const tokenCacheMisses = new Counter({
    name: `${prefix}token_cache_misses_total`,
    help: 'Verified-token cache misses.',
    registers: [registry],
  });
  const introspections = new Counter({
    name: `${prefix}introspections_total`,
    help: 'RFC 7662 token introspection calls by outcome.',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const breakGlass = new Counter({
    name: `${prefix}break_glass_total`,
    help: 'Requests allowed through break-glass.',
    registers: [registry],
  });
  const inflight = new Gauge({
    name: `${prefix}inflight_checks`,
    help: 'Checks currently being answered.',
    registers: [registry],
  });
  const auditDropped = new Counter({
    name: `${prefix}audit_events_dropped_total`,
    help: 'Audit events that could not be written, by cause.',
    labelNames: ['cause'] as const,
    registers: [registry],
  });

  // Every series of a closed label set exists from the start at zero, so rate() and alerts work
  // before the first occurrence (a reason that never happened reads 0, not "no data").
  decisions.inc({ decision: 'allow', reason: 'allowed' }, 0);
  for (const reason of Object.keys(REASONS)) decisions.inc({ decision: 'deny', reason }, 0);
  for (const outcome of INTROSPECTION_OUTCOMES) introspections.inc({ outcome }, 0);
  for (const cause of AUDIT_DROP_CAUSES) auditDropped.inc({ cause }, 0);
  const issuers = new BoundedLabelSet(opts.maxIssuers ?? 64, opts.issuers ?? []);
  for (const issuer of opts.issuers ?? []) {
    const label = issuers.admit(issuer);
    for (const outcome of JWKS_OUTCOMES) jwksFetches.inc({ issuer: label, outcome }, 0);
  }

  return {
    registry,
    checkDuration: {
      observe(seconds, decision) {
        if (!Number.isFinite(seconds) || seconds < 0) throw new TypeError('checkDuration: seconds must be a finite number ≥ 0');
        checkDuration.observe({ decision: oneOf(decision, DECISION_KINDS, 'checkDuration') }, seconds);
      },
    },
    decisions: {
      inc(decision, reason) {
        oneOf(decision, DECISION_KINDS, 'decisions');
        const consistent = decision === 'allow' ? reason === 'allowed' : reason !== 'allowed' && isReasonCode(reason);
        if (!consistent) throw new TypeError('decisions: reason does not match decision');
        decisions.inc({ decision, reason });
      },
    },
    jwksFetches: {
      inc(issuer, outcome) {
        jwksFetches.inc({ issuer: issuers.admit(issuer), outcome: oneOf(outcome, JWKS_OUTCOMES, 'jwksFetches') });
      },
    },
    tokenCache: {
      hit: () => tokenCacheHits.inc(),
      miss: () => tokenCacheMisses.inc(),
    },
    introspections: {
      inc(outcome) {
        introspections.inc({ outcome: oneOf(outcome, INTROSPECTION_OUTCOMES, 'introspections') });
      },
    },
    breakGlass: { inc: () => breakGlass.inc() },
    inflight: { inc: () => inflight.inc(), dec: () => inflight.dec() },
    auditDropped: {
      inc(cause, count = 1) {
        if (!Number.isInteger(count) || count < 0) throw new TypeError('auditDropped: count must be an integer ≥ 0');
        auditDropped.inc({ cause: oneOf(cause, AUDIT_DROP_CAUSES, 'auditDropped') }, count);
      },
    },
  };
}
