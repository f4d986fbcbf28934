/**
 * The grpc-timeout request header (PROTOCOL-HTTP2): "TimeoutValue TimeoutUnit", at most 8 ASCII
 * digits followed by one of H M S m u n. Parsed to milliseconds; anything else is invalid.
 */
const UNIT_MS: ReadonlyMap<string, number> = new Map([
  ['H', 3_600_000],
  ['M', 60_000],
  ['S', 1000],
  ['m', 1],
  ['u', 1e-3],
  ['n', 1e-6],
]);

/** Milliseconds, or undefined when the value does not follow the grammar. */
export function parseGrpcTimeout(value: string): number | undefined {
  const n = value.length;
  if (n < 2 || n > 9) return undefined;
  const unit = UNIT_MS.get(value[n - 1]!);
  if (unit === undefined) return undefined;
  let digits = 0;
  for (let i = 0; i < n - 1; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    digits = digits * 10 + c;
  }
  return digits * unit;
}
