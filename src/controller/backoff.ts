/**
 * Capped exponential backoff with jitter, one function shared by informer restarts, work-queue
 * retries and leader-election retries, so "how long until we try again" is decided in one place.
 *
 * Jitter spreads the retries of many replicas (and many keys) after a shared outage, so an API
 * server that comes back is not hit by all of them in the same millisecond.
 */

export interface BackoffPolicy {
  /** Delay after the first failure. */
  readonly baseMs: number;
  /** Upper bound of any delay. */
  readonly maxMs: number;
  /** Fraction of the delay that is randomized (0 = none, 0.2 = ±20 %). */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 200, maxMs: 30_000, jitter: 0.2 };

/**
 * Delay before retry number `failures` (1 = after the first failure). `random` returns [0, 1);
 * tests pass a constant to get exact delays.
 */
export function backoffDelay(failures: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  if (!Number.isInteger(failures) || failures < 1) throw new TypeError('failures must be an integer ≥ 1');
  // 2^30 already exceeds any sane cap; clamping the exponent keeps the arithmetic finite.
  const raw = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(failures - 1, 30));
  const spread = raw * policy.jitter * (2 * random() - 1);
  return Math.max(0, Math.min(policy.maxMs, Math.round(raw + spread)));
}
