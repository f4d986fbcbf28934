/**
 * Per-key burst coalescing (leading + trailing edge): the first change after a quiet period is
 * flushed at once (lowest latency for a single `kubectl apply`); further changes within
 * `intervalMs` are folded into one trailing flush at the end of the interval, which reads the
 * state as it is then — so a burst produces at most one flush per interval per key and always
 * ends with the latest state.
 */
import type { Clock } from '../../core/clock.ts';

/** Timer functions, injectable so tests can fire them by hand. */
export interface Scheduler {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realScheduler: Scheduler = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class Coalescer {
  readonly #intervalMs: number;
  readonly #clock: Clock;
  readonly #scheduler: Scheduler;
  readonly #flush: (key: string) => void;
  readonly #lastFlush = new Map<string, number>();
  readonly #pending = new Map<string, unknown>();
  #closed = false;

  constructor(intervalMs: number, clock: Clock, scheduler: Scheduler, flush: (key: string) => void) {
    this.#intervalMs = intervalMs;
    this.#clock = clock;
    this.#scheduler = scheduler;
    this.#flush = flush;
  }

  /** Something changed for `key`. */
  poke(key: string): void {
    if (this.#closed || this.#pending.has(key)) return;
    const now = this.#clock.now();
    const last = this.#lastFlush.get(key);
    if (last === undefined || now - last >= this.#intervalMs) {
      this.#run(key, now);
      return;
    }
    const handle = this.#scheduler.set(() => {
      this.#pending.delete(key);
      if (!this.#closed) this.#run(key, this.#clock.now());
    }, last + this.#intervalMs - now);
    this.#pending.set(key, handle);
  }

  #run(key: string, now: number): void {
    this.#lastFlush.set(key, now);
    this.#flush(key);
  }

  close(): void {
    this.#closed = true;
    for (const h of this.#pending.values()) this.#scheduler.clear(h);
    this.#pending.clear();
  }
}
