/**
 * Values that are known at once or later: the Check path returns plain values when no phase waits
 * (a cached token) and Promises only when one does, so callers test which they got.
 */
export type MaybePromise<T> = T | Promise<T>;

export function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}
