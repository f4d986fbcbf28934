/**
 * Time for the controller's loops: the current time plus "call me in N ms". Informers, the work
 * queue and leader election take a Scheduler instead of calling setTimeout, so their tests drive
 * time with `ManualScheduler.advance()` and never sleep.
 */
import type { Clock } from '../core/clock.ts';

/** Cancels a scheduled call; calling it after the call ran (or twice) does nothing. */
export type Cancel = () => void;

export interface Scheduler extends Clock {
  /** Runs `fn` once, `ms` milliseconds from now (0 = on a later turn of the event loop). */
  after(ms: number, fn: () => void): Cancel;
}

/** Real time. Timers are unref'd: a pending retry never keeps the process alive on its own. */
export const systemScheduler: Scheduler = {
  now: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return () => clearTimeout(t);
  },
};

interface Pending {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** Lets asynchronous work started by a timer (awaited API calls, then-chains) run to its next wait. */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A scheduler whose time moves only in `advance`; for tests. */
export class ManualScheduler implements Scheduler {
  #now: number;
  #seq = 0;
  #pending: Pending[] = [];

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): Cancel {
    const p: Pending = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#pending.push(p);
    return () => {
      this.#pending = this.#pending.filter((x) => x !== p);
    };
  }

  /** Number of calls waiting to run. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Milliseconds until the next scheduled call, or undefined when none is pending. */
  nextDelay(): number | undefined {
    const next = this.#sorted()[0];
    return next === undefined ? undefined : next.at - this.#now;
  }

  /**
   * Moves time forward by `ms`, running every call that falls due in order, and letting the
   * asynchronous work each one starts settle before the next. Bounded: at most `maxCalls` calls.
   */
  async advance(ms: number, maxCalls = 10_000): Promise<void> {
    const end = this.#now + ms;
    await settle();
    for (let i = 0; i < maxCalls; i++) {
      const next = this.#sorted()[0];
      if (next === undefined || next.at > end) break;
      this.#pending = this.#pending.filter((x) => x !== next);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
      await settle();
    }
    this.#now = end;
    await settle();
  }

  #sorted(): Pending[] {
    return [...this.#pending].sort((a, b) => a.at - b.at || a.seq - b.seq);
  }
}
