/**
 * A label value set with a hard size limit. Prometheus keeps one time series per distinct label
 * value for the life of the process, so a label fed from anything an attacker can influence (an
 * `iss` claim, a header) is a memory leak waiting to happen. fhirgate's callers pass configured
 * names only; this guard makes the bound hold even if one of them gets that wrong.
 */

/** Label value used once the set is full or for values that are not acceptable labels. */
export const OTHER_LABEL = 'other';

/** Plain, short label values only: no control characters, no quoting surprises in dashboards. */
const ACCEPTABLE = /^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$/;

export class BoundedLabelSet {
  readonly #max: number;
  readonly #seen = new Set<string>();

  /** @param max distinct values accepted before everything new maps to {@link OTHER_LABEL}. */
  constructor(max: number, preset: Iterable<string> = []) {
    if (!Number.isInteger(max) || max < 1) throw new TypeError('max must be a positive integer');
    this.#max = max;
    for (const v of preset) this.admit(v);
  }

  /** The label value to use for `value`: itself when already known or when there is room. */
  admit(value: string): string {
    if (this.#seen.has(value)) return value;
    if (typeof value !== 'string' || !ACCEPTABLE.test(value) || this.#seen.size >= this.#max) return OTHER_LABEL;
    this.#seen.add(value);
    return value;
  }

  get size(): number {
    return this.#seen.size;
  }
}
