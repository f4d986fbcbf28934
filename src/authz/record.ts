/**
 * record: the last phase. For every finished check it writes one audit event, updates the
 * Prometheus series, ends the trace span and logs — never a token, a path with ids, a query
 * string or a patient id. Failures here never change the decision (the pipeline ignores them).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { systemClock } from '../core/clock.ts';
import { reasonInfo } from '../core/reasons.ts';
import type { AuthzConfig } from './config.ts';
import type { CheckOutcome, CheckSpanHandle } from './pipeline.ts';
import { buildAuditEvent } from '../audit/event.ts';
import { createPseudonymizer, keyFromFileContent } from '../audit/pseudonym.ts';
import type { Pseudonymizer } from '../audit/pseudonym.ts';
import { FileSink, StdoutSink } from '../audit/sink.ts';
import type { AuditSink } from '../audit/sink.ts';
import type { Logger } from '../telemetry/logger.ts';
import { createMetrics } from '../telemetry/metrics.ts';
import type { FhirgateMetrics } from '../telemetry/metrics.ts';
import { createTracing, endCheckSpan, startCheckSpan } from '../telemetry/tracing.ts';
import { parseTraceparent } from '../telemetry/traceparent.ts';
import type { Tracing } from '../telemetry/tracing.ts';
import type { TokenEvents } from '../token/events.ts';

export interface Recorder {
  readonly metrics: FhirgateMetrics;
  /** Hooks the token layer calls (JWKS fetches, cache, introspection) → metrics. */
  readonly tokenEvents: TokenEvents;
  startSpan(traceparent: string | undefined): CheckSpanHandle;
  record(outcome: CheckOutcome): void;
  close(): Promise<void>;
}

export interface RecorderOptions {
  readonly config: AuthzConfig;
  readonly logger: Logger;
  /** Override the audit sink (tests). */
  readonly auditSink?: AuditSink;
  /** Override tracing (tests). */
  readonly tracing?: Tracing;
}

function pseudonymizer(cfg: AuthzConfig, log: Logger): Pseudonymizer {
  if (cfg.audit.keyFile !== undefined) return createPseudonymizer(keyFromFileContent(readFileSync(cfg.audit.keyFile)));
  log.warn('audit.keyFile not set: pseudonyms are keyed per process and will not correlate across restarts');
  return createPseudonymizer(randomBytes(32));
}

async function auditSink(cfg: AuthzConfig, metrics: FhirgateMetrics): Promise<AuditSink | undefined> {
  const onDrop = (cause: 'buffer_full' | 'write_error' | 'closed', count: number): void =>
    metrics.auditDropped.inc(cause, count);
  switch (cfg.audit.sink) {
    case 'none':
      return undefined;
    case 'file':
      return FileSink.open(cfg.audit.file ?? '', { onDrop });
    default:
      return new StdoutSink({ stream: process.stdout, onDrop });
  }
}

/** Builds the record phase; opens the audit sink (a bad audit path fails start-up, not requests). */
export async function createRecorder(opts: RecorderOptions): Promise<Recorder> {
  const { config, logger } = opts;
  const issuers = config.auth.issuers.map((i) => i.issuer);
  const metrics = createMetrics({ issuers });
  const tracing =
    opts.tracing ??
    createTracing({
      serviceName: config.telemetry.serviceName,
      ...(config.telemetry.otlpEndpoint !== undefined ? { otlpEndpoint: config.telemetry.otlpEndpoint } : {}),
    });
  const sink = opts.auditSink ?? (await auditSink(config, metrics));
  const exporting = opts.tracing !== undefined || config.telemetry.otlpEndpoint !== undefined;
  const pseudonymize = pseudonymizer(config, logger);
  const log = logger.child({ component: 'record' });

  const tokenEvents: TokenEvents = {
    jwksFetch: (issuer, outcome, trigger) => {
      metrics.jwksFetches.inc(issuer, outcome === 'ok' ? 'success' : 'failure');
      if (outcome !== 'ok') log.warn('jwks fetch failed', { issuer, outcome, trigger });
    },
    introspection: (_issuer, outcome) =>
      metrics.introspections.inc(outcome === 'active' ? 'active' : outcome === 'inactive' ? 'inactive' : 'failure'),
    cache: (outcome) => (outcome === 'hit' ? metrics.tokenCache.hit() : metrics.tokenCache.miss()),
  };

  return {
    metrics,
    tokenEvents,
    startSpan(traceparent) {
      // Without a trace backend a span is pure cost: Envoy propagates the trace, and the audit
      // event only needs the caller's trace id, read straight from its traceparent.
      if (!exporting) return { traceId: parseTraceparent(traceparent)?.traceId, end: () => undefined };
      const span = startCheckSpan(tracing.tracer, traceparent);
      const ctx = span.spanContext();
      return {
        traceId: ctx.traceId,
        end(o) {
          const d = o.decision;
          endCheckSpan(span, {
            ...(o.request !== undefined ? { method: o.request.method } : {}),
            decision: d.kind,
            reason: d.reason,
            ...(d.principal !== undefined && d.principal.clientId !== '' ? { clientId: d.principal.clientId } : {}),
          });
        },
      };
    },
    record(o) {
      const d = o.decision;
      metrics.checkDuration.observe(o.durationSeconds, d.kind);
      metrics.decisions.inc(d.kind, d.reason);
      if (d.kind === 'allow' && d.breakGlass) metrics.breakGlass.inc();
      if (sink !== undefined) {
        sink.write(
          buildAuditEvent(
            {
              decision: d,
              request: o.request ?? { method: '', requestId: o.requestId, sourceAddress: '' },
              ...(o.traceId !== undefined ? { traceId: o.traceId } : {}),
            },
            { pseudonymize, clock: systemClock },
          ),
        );
      }
      if (o.error !== undefined) {
        log.error('check failed; denied (fail closed)', { requestId: o.requestId, error: o.error });
      } else if (log.isLevelEnabled('debug')) {
        log.debug('decision', {
          requestId: o.requestId,
          decision: d.kind,
          reason: d.reason,
          status: d.kind === 'allow' ? 200 : reasonInfo(d.reason).status,
          rule: d.rule,
          phase: d.kind === 'deny' ? d.phase : 'authorize',
          ms: Math.round(o.durationSeconds * 1e6) / 1e3,
        });
      }
    },
    async close() {
      await sink?.flush();
      await sink?.close();
      await tracing.shutdown();
    },
  };
}
