/**
 * OpenTelemetry tracing for Check. Each Check gets one span, `fhirgate.check`, joined to the trace
 * Envoy (or the client) started, so an operator can see the authorization step inside a request's
 * trace. The provider is private to fhirgate (never registered globally): nothing else in the
 * process can add spans with attributes we have not vetted.
 *
 * Span attributes are limited to facts that are not PHI and not credentials: the HTTP method, the
 * decision, the reason code and the OAuth client id. The attribute type below has no field for a
 * path, a patient id or a token, so they cannot be attached by mistake.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import type { Attributes, Span, Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { DecisionReason } from '../core/reasons.ts';
import { isReasonCode } from '../core/reasons.ts';
import { parseTraceparent } from './traceparent.ts';

export const CHECK_SPAN_NAME = 'fhirgate.check';
const TRACER_NAME = 'fhirgate';

export interface TracingOptions {
  /** `service.name` of the spans, e.g. 'fhirgate-authz'. */
  readonly serviceName: string;
  /**
   * OTLP/HTTP collector URL: either the base ('http://collector:4318') or the full traces URL
   * ('…/v1/traces'). Without it spans are created (ids still propagate) but exported nowhere.
   */
  readonly otlpEndpoint?: string;
  /** Fraction of new root traces sampled, 0…1 (default 1). Callers' sampling decisions are kept. */
  readonly samplerRatio?: number;
  /**
   * An exporter used with a synchronous processor instead of OTLP (tests, or embedding with a
   * custom backend). Mutually exclusive with `otlpEndpoint`.
   */
  readonly exporter?: SpanExporter;
}

export interface Tracing {
  readonly tracer: Tracer;
  /** Exports what is buffered, then stops; later spans are dropped. */
  shutdown(): Promise<void>;
}

/** Builds the OTLP traces URL from a base or full URL; http(s) only. */
export function otlpTracesUrl(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new TypeError('otlpEndpoint is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('otlpEndpoint must be http or https');
  if (url.username !== '' || url.password !== '') throw new TypeError('otlpEndpoint must not contain credentials');
  if (url.search !== '' || url.hash !== '') throw new TypeError('otlpEndpoint must not contain a query or fragment');
  if (!url.pathname.endsWith('/v1/traces')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/traces`;
  return url.toString();
}

export function createTracing(opts: TracingOptions): Tracing {
  if (typeof opts.serviceName !== 'string' || opts.serviceName === '') throw new TypeError('serviceName is required');
  const ratio = opts.samplerRatio ?? 1;
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new TypeError('samplerRatio must be between 0 and 1');
  if (opts.exporter !== undefined && opts.otlpEndpoint !== undefined) {
    throw new TypeError('give either otlpEndpoint or exporter, not both');
  }

  const spanProcessors: SpanProcessor[] = [];
  if (opts.exporter !== undefined) {
    spanProcessors.push(new SimpleSpanProcessor({ exporter: opts.exporter }));
  } else if (opts.otlpEndpoint !== undefined) {
    const exporter = new OTLPTraceExporter({ url: otlpTracesUrl(opts.otlpEndpoint), timeoutMillis: 5_000 });
    // A bounded queue: when the collector is slow, spans are dropped rather than piling up in memory.
    spanProcessors.push(new BatchSpanProcessor({ exporter, maxQueueSize: 2048, maxExportBatchSize: 512 }));
  }

  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
    spanProcessors,
    spanLimits: { attributeCountLimit: 16, attributeValueLengthLimit: 256, eventCountLimit: 16, linkCountLimit: 0 },
  });
  return {
    tracer: provider.getTracer(TRACER_NAME),
    shutdown: () => provider.shutdown(),
  };
}

/** The only attributes a check span may carry. */
export interface CheckSpanAttributes {
  readonly method?: string;
  readonly decision?: 'allow' | 'deny';
  readonly reason?: DecisionReason;
  /** OAuth client id (not PHI). */
  readonly clientId?: string;
}

/** HTTP methods recorded as themselves; anything else becomes '_OTHER' (bounded, no injection). */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/** Normalizes a method for telemetry: upper-case known verbs, '_OTHER' for anything else. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : '_OTHER';
}

const CLIENT_ID_MAX = 128;

function toAttributes(attrs: CheckSpanAttributes): Attributes {
  const out: Attributes = {};
  if (attrs.method !== undefined) out['http.method'] = methodLabel(attrs.method);
  if (attrs.decision === 'allow' || attrs.decision === 'deny') out['fhirgate.decision'] = attrs.decision;
  if (attrs.reason !== undefined && (attrs.reason === 'allowed' || isReasonCode(attrs.reason))) {
    out['fhirgate.reason'] = attrs.reason;
  }
  if (typeof attrs.clientId === 'string' && attrs.clientId !== '') {
    out['fhirgate.client_id'] = attrs.clientId.slice(0, CLIENT_ID_MAX);
  }
  return out;
}

/**
 * Starts the `fhirgate.check` span as a child of the caller's span named by `traceparent`, or as
 * a new root when the header is absent or not strictly valid. The caller ends the span (usually
 * through {@link endCheckSpan}).
 */
export function startCheckSpan(tracer: Tracer, traceparent: string | undefined, attrs: CheckSpanAttributes = {}): Span {
  const parent = parseTraceparent(traceparent);
  const ctx =
    parent === undefined
      ? ROOT_CONTEXT
      : trace.setSpanContext(ROOT_CONTEXT, {
          traceId: parent.traceId,
          spanId: parent.parentSpanId,
          traceFlags: parent.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
          isRemote: true,
        });
  return tracer.startSpan(CHECK_SPAN_NAME, { kind: SpanKind.SERVER, attributes: toAttributes(attrs) }, ctx);
}

/** Records the outcome on the span and ends it. A denial is not an error of fhirgate's: only internal_error is. */
export function endCheckSpan(span: Span, outcome: CheckSpanAttributes): void {
  span.setAttributes(toAttributes(outcome));
  if (outcome.reason === 'internal_error') span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}
