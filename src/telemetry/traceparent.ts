/**
 * Strict parser for the W3C Trace Context `traceparent` header (version 00):
 *
 *     00-<trace-id: 32 lower-case hex>-<parent-id: 16 lower-case hex>-<trace-flags: 2 lower-case hex>
 *
 * The header comes from the client through Envoy, so it is hostile input. Anything that is not
 * exactly a valid version-00 value (other versions, upper-case hex, all-zero ids, extra fields,
 * surrounding whitespace) yields `undefined`, and the caller starts a new root trace instead of
 * joining something it cannot trust to be well formed.
 */

export interface TraceParent {
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** The caller's span id: 16 lower-case hex digits, not all zero. */
  readonly parentSpanId: string;
  /** The 8 trace-flag bits. */
  readonly traceFlags: number;
  /** Bit 0 of the flags: the caller recorded this trace. */
  readonly sampled: boolean;
}

const TRACEPARENT_V00 = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ALL_ZERO = /^0+$/;

export function parseTraceparent(header: string | undefined): TraceParent | undefined {
  // 55 characters exactly; checking the length first keeps the regex off oversized input.
  if (typeof header !== 'string' || header.length !== 55) return undefined;
  const m = TRACEPARENT_V00.exec(header);
  if (m === null) return undefined;
  const [, traceId, parentSpanId, flags] = m;
  if (traceId === undefined || parentSpanId === undefined || flags === undefined) return undefined;
  if (ALL_ZERO.test(traceId) || ALL_ZERO.test(parentSpanId)) return undefined;
  const traceFlags = Number.parseInt(flags, 16);
  return { traceId, parentSpanId, traceFlags, sampled: (traceFlags & 1) === 1 };
}

/** Renders a version-00 traceparent (for propagating our own span to a dependency). */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  if (!/^[0-9a-f]{32}$/.test(traceId) || ALL_ZERO.test(traceId)) throw new TypeError('invalid trace id');
  if (!/^[0-9a-f]{16}$/.test(spanId) || ALL_ZERO.test(spanId)) throw new TypeError('invalid span id');
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}
