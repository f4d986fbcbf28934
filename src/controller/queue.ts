/**
 * The controller's keyed work queue (the shape client-go made standard):
 *
 * - de-duplicating: a key waiting in the queue is there once, however often it is added;
 * - one in flight per key: a key added while a worker handles it is marked dirty and queued again
 *   when that worker finishes, so two workers never reconcile the same object at once, and the
 *   latest change is never lost;
 * - rate-limited retries: a failed key comes back after a per-key capped exponential backoff with
 *   jitter; a success forgets its failures;
 * - N workers; `shutdown()` stops intake, cancels delayed retries, lets the workers finish what is
 *   queued and in flight, and resolves when they have.
 *
 * Keys are opaque strings (the controller uses `Kind/namespace/name`).
 */
import { silentLogger } from '../telemetry/logger.ts';
import type { Logger } from '../telemetry/logger.ts';
import { DEFAULT_BACKOFF, backoffDelay } from './backoff.ts';
import type { BackoffPolicy } from './backoff.ts';
import { describe } from './informer.ts';
import type { Cancel, Scheduler } from './scheduler.ts';

/** Handles one key. A number result asks for the key again after that many ms (e.g. an expiry). */
export type ProcessFn = (key: string) => Promise<number | void>;

export interface WorkQueueOptions {
  readonly scheduler: Scheduler;
  readonly backoff?: BackoffPolicy;
  readonly workers?: number;
  readonly random?: () => number;
  readonly logger?: Logger;
  /** Called after each key is handled; for metrics. */
  readonly onResult?: (key: string, result: 'success' | 'error') => void;
}

export class WorkQueue {
  readonly #scheduler: Scheduler;
  readonly #backoff: BackoffPolicy;
  readonly #workers: number;
  readonly #random: () => number;
  readonly #log: Logger;
  readonly #onResult: WorkQueueOptions['onResult'];
  /** FIFO of queued keys; `#queued` mirrors it for O(1) membership. */
  #order: string[] = [];
  readonly #queued = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #delayed = new Map<string, { readonly at: number; readonly cancel: Cancel }>();
  readonly #failures = new Map<string, number>();
  #waiters: Array<(key: string | undefined) => void> = [];
  #running: Promise<void>[] = [];
  #shuttingDown = false;

  constructor(opts: WorkQueueOptions) {
    const workers = opts.workers ?? 2;
    if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new TypeError('workers must be an integer in 1..64');
    this.#scheduler = opts.scheduler;
    this.#backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.#workers = workers;
    this.#random = opts.random ?? Math.random;
    this.#log = (opts.logger ?? silentLogger).child({ component: 'queue' });
    this.#onResult = opts.onResult;
  }

  /** Keys waiting for a worker (not counting in-flight or delayed ones). */
  get length(): number {
    return this.#order.length;
  }

  get inFlight(): number {
    return this.#processing.size;
  }

  get delayed(): number {
    return this.#delayed.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Consecutive failures of `key` so far. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  add(key: string): void {
    if (this.#shuttingDown) return;
    const d = this.#delayed.get(key);
    if (d !== undefined) {
      d.cancel();
      this.#delayed.delete(key);
    }
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    this.#enqueue(key);
  }

  /** Adds `key` after `ms`; an earlier pending delayed add for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.#scheduler.now() + ms;
    const existing = this.#delayed.get(key);
    if (existing !== undefined) {
      if (existing.at <= at) return;
      existing.cancel();
    }
    const cancel = this.#scheduler.after(ms, () => {
      this.#delayed.delete(key);
      this.add(key);
    });
    this.#delayed.set(key, { at, cancel });
  }

  /** Adds `key` again after its per-key backoff, counting one more failure. */
  addRateLimited(key: string): void {
    const n = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, n);
    this.addAfter(key, backoffDelay(n, this.#backoff, this.#random));
  }

  /** Forgets the failures of `key` (its next failure starts from the base delay). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** Starts the workers. */
  start(process: ProcessFn): void {
    if (this.#running.length > 0) throw new TypeError('work queue already started');
    if (this.#shuttingDown) throw new TypeError('work queue is shut down');
    for (let i = 0; i < this.#workers; i++) this.#running.push(this.#work(process));
  }

  /**
   * Stops taking new keys, drops delayed retries, and resolves once every queued and in-flight key
   * has been handled (failures during the drain are not retried).
   */
  async shutdown(): Promise<void> {
    this.#shuttingDown = true;
    for (const d of this.#delayed.values()) d.cancel();
    this.#delayed.clear();
    this.#wakeIdleWorkersIfDrained();
    await Promise.all(this.#running);
  }

  async #work(process: ProcessFn): Promise<void> {
    for (;;) {
      const key = await this.#next();
      if (key === undefined) return;
      this.#processing.add(key);
      let result: 'success' | 'error' = 'success';
      try {
        const again = await process(key);
        this.forget(key);
        if (typeof again === 'number' && Number.isFinite(again)) this.addAfter(key, Math.max(0, again));
      } catch (err) {
        result = 'error';
        this.#log.warn('reconcile failed; will retry with backoff', { key, error: describe(err), failures: this.failures(key) + 1 });
        if (!this.#shuttingDown) this.addRateLimited(key);
      } finally {
        this.#processing.delete(key);
        // A dirty key goes back in the queue, even during shutdown: its change came before the stop.
        if (this.#dirty.delete(key)) this.#enqueue(key);
      }
      this.#onResult?.(key, result);
      this.#wakeIdleWorkersIfDrained();
    }
  }

  /** Hands `key` to a waiting worker, or queues it once. */
  #enqueue(key: string): void {
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      this.#queued.delete(key);
      waiter(key);
    } else {
      this.#order.push(key);
    }
  }

  #next(): Promise<string | undefined> {
    const key = this.#order.shift();
    if (key !== undefined) {
      this.#queued.delete(key);
      return Promise.resolve(key);
    }
    if (this.#shuttingDown && this.#processing.size === 0) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** During shutdown, once nothing is queued or in flight, idle workers exit. */
  #wakeIdleWorkersIfDrained(): void {
    if (!this.#shuttingDown || this.#order.length > 0 || this.#processing.size > 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w(undefined);
  }
}
