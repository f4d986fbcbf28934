/** Small numeric helpers for summarising repeated benchmark rounds. */

/** Median of a non-empty list (mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new TypeError('median of an empty list');
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const hi = s[mid] as number;
  return s.length % 2 === 1 ? hi : ((s[mid - 1] as number) + hi) / 2;
}

/** A number rounded to `digits` decimals, for tables (NaN/Infinity shown as '—'). */
export function fmt(value: number | null, digits = 1): string {
  return value !== null && Number.isFinite(value) ? value.toFixed(digits) : '—';
}

/** PASS when `value` meets `op target`; a missing or non-finite value is a FAIL, never a pass. */
export function verdict(value: number | null, op: '<=' | '>=', target: number): 'PASS' | 'FAIL' {
  if (value === null || !Number.isFinite(value)) return 'FAIL';
  return (op === '<=' ? value <= target : value >= target) ? 'PASS' : 'FAIL';
}
