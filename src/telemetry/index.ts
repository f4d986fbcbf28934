export { createLogger, isLogLevel, silentLogger, LOG_LEVELS } from './logger.ts';
export type { LogFields, LogLevel, LogStream, Logger, LoggerOptions } from './logger.ts';
export { DEFAULT_REDACT_LIMITS, REDACTED, isRedactedKey, redactString, redactValue } from './redact.ts';
export type { RedactLimits, RedactOptions, SafeJson } from './redact.ts';
export { BoundedLabelSet, OTHER_LABEL } from './bounded-label.ts';
export { CHECK_DURATION_BUCKETS, createMetrics } from './metrics.ts';
export type {
  AuditDropCause,
  DecisionKind,
  FhirgateMetrics,
  IntrospectionOutcome,
  JwksFetchOutcome,
  MetricsOptions,
} from './metrics.ts';
export { formatTraceparent, parseTraceparent } from './traceparent.ts';
export type { TraceParent } from './traceparent.ts';
export { CHECK_SPAN_NAME, createTracing, endCheckSpan, methodLabel, otlpTracesUrl, startCheckSpan } from './tracing.ts';
export type { CheckSpanAttributes, Tracing, TracingOptions } from './tracing.ts';
