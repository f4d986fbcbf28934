/**
 * Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it:
 *
 * - a candidate tries every `retryPeriod`: it takes the Lease when there is none, when it is free
 *   (`holderIdentity: ''`, what a leader that shuts down cleanly leaves), or when its record has
 *   not changed for `leaseDuration` as measured on OUR clock since we first saw that record (so
 *   clock skew between replicas does not matter);
 * - the leader renews every `renewDeadline / 2`; when a renewal fails it retries every
 *   `retryPeriod`, and steps down once `renewDeadline` has passed since its last successful
 *   renewal (renewDeadline < leaseDuration, so it stops acting before anyone else may start), or at
 *   once when the Lease shows another holder;
 * - `stop({ release: true })` writes `holderIdentity: ''` so a successor need not wait.
 *
 * Updates carry the resourceVersion read just before, so two candidates racing for a free Lease
 * cannot both win: the API server refuses the second write (409).
 */
import { silentLogger } from '../telemetry/logger.ts';
import type { Logger } from '../telemetry/logger.ts';
import { describe } from './informer.ts';
import type { LeaseFields } from '../k8s/client/leases.ts';
import type { Cancel, Scheduler } from './scheduler.ts';

/** A Lease as the elector reads and writes it: the client's own shape (src/k8s/client/leases.ts). */
export type LeaseRecord = LeaseFields;

/** One Lease (name and namespace fixed by the adapter). Methods throw on API errors (409 on a lost race). */
export interface LeaseApi {
  get(): Promise<LeaseRecord | undefined>;
  create(record: LeaseRecord): Promise<LeaseRecord>;
  update(record: LeaseRecord): Promise<LeaseRecord>;
}

export interface LeaderElectorOptions {
  readonly api: LeaseApi;
  readonly identity: string;
  readonly scheduler: Scheduler;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly onStartedLeading?: () => void;
  readonly onStoppedLeading?: () => void;
  readonly logger?: Logger;
}

export const LEASE_NAME = 'fhirgate-controller';

type Attempt = 'acquired' | 'held-by-other' | 'error';

export class LeaderElector {
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly #api: LeaseApi;
  readonly #scheduler: Scheduler;
  readonly #onStarted: () => void;
  readonly #onStopped: () => void;
  readonly #log: Logger;
  #leader = false;
  #running = false;
  #timer: Cancel | undefined;
  #epoch = 0;
  /** The last record we read or wrote, and when (our clock) it last changed. */
  #observed: LeaseRecord | undefined;
  #observedAt = 0;
  #lastRenew = 0;
  #attempt: Promise<unknown> = Promise.resolve();

  constructor(opts: LeaderElectorOptions) {
    if (opts.identity === '') throw new TypeError('identity must not be empty');
    this.identity = opts.identity;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? Math.round((this.leaseDurationMs * 2) / 3);
    this.retryPeriodMs = opts.retryPeriodMs ?? Math.max(100, Math.round(this.leaseDurationMs / 7.5));
    if (!(this.leaseDurationMs >= 1000 && this.leaseDurationMs % 1000 === 0)) throw new TypeError('leaseDurationMs must be whole seconds, ≥ 1 s');
    if (!(this.renewDeadlineMs > 0 && this.renewDeadlineMs < this.leaseDurationMs)) throw new TypeError('renewDeadlineMs must be in (0, leaseDurationMs)');
    if (!(this.retryPeriodMs > 0 && this.retryPeriodMs < this.renewDeadlineMs)) throw new TypeError('retryPeriodMs must be in (0, renewDeadlineMs)');
    this.#api = opts.api;
    this.#scheduler = opts.scheduler;
    this.#onStarted = opts.onStartedLeading ?? (() => {});
    this.#onStopped = opts.onStoppedLeading ?? (() => {});
    this.#log = (opts.logger ?? silentLogger).child({ component: 'leader', identity: opts.identity });
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  start(): void {
    if (this.#running) throw new TypeError('leader elector already started');
    this.#running = true;
    this.#schedule(0);
  }

  /**
   * Stops campaigning. With `release` (a graceful shutdown) a leader hands the Lease back so a
   * successor takes over at once; without it (tests simulating a crash) nothing is written.
   */
  async stop(opts: { release: boolean } = { release: true }): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#epoch++;
    this.#timer?.();
    this.#timer = undefined;
    await this.#attempt.catch(() => {});
    const wasLeader = this.#leader;
    if (wasLeader) this.#stepDown('stopped');
    if (wasLeader && opts.release) {
      try {
        const current = await this.#api.get();
        if (current !== undefined && current.holderIdentity === this.identity) {
          await this.#api.update({ ...current, holderIdentity: '', renewTime: new Date(this.#scheduler.now()) });
          this.#log.info('lease released');
        }
      } catch (err) {
        this.#log.warn('could not release the lease; a successor waits for it to expire', { error: describe(err) });
      }
    }
  }

  #schedule(ms: number): void {
    const epoch = this.#epoch;
    this.#timer = this.#scheduler.after(ms, () => {
      this.#timer = undefined;
      if (epoch !== this.#epoch || !this.#running) return;
      const p = this.#tick(epoch);
      this.#attempt = p;
      p.catch((err: unknown) => this.#log.error('leader election tick failed', { error: describe(err) }));
    });
  }

  async #tick(epoch: number): Promise<void> {
    const outcome = await this.#tryAcquireOrRenew();
    if (epoch !== this.#epoch || !this.#running) return;
    const now = this.#scheduler.now();
    if (outcome === 'acquired') {
      this.#lastRenew = now;
      if (!this.#leader) {
        this.#leader = true;
        this.#log.info('started leading');
        this.#call(this.#onStarted);
      }
      this.#schedule(Math.round(this.renewDeadlineMs / 2));
      return;
    }
    if (this.#leader) {
      if (outcome === 'held-by-other') this.#stepDown('the lease is held by another replica');
      else if (now - this.#lastRenew >= this.renewDeadlineMs) this.#stepDown('could not renew the lease within renewDeadline');
      else {
        this.#schedule(Math.min(this.retryPeriodMs, this.renewDeadlineMs - (now - this.#lastRenew)));
        return;
      }
    }
    this.#schedule(this.retryPeriodMs);
  }

  #stepDown(why: string): void {
    this.#leader = false;
    this.#log.warn('stopped leading', { reason: why });
    this.#call(this.#onStopped);
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error('leader callback threw', { error: describe(err) });
    }
  }

  #observe(rec: LeaseRecord, now: number): void {
    const o = this.#observed;
    const changed =
      o === undefined ||
      o.holderIdentity !== rec.holderIdentity ||
      o.renewTime?.getTime() !== rec.renewTime?.getTime() ||
      o.resourceVersion !== rec.resourceVersion;
    this.#observed = rec;
    if (changed) this.#observedAt = now;
  }

  async #tryAcquireOrRenew(): Promise<Attempt> {
    const now = this.#scheduler.now();
    const nowDate = new Date(now);
    const durationSeconds = this.leaseDurationMs / 1000;
    try {
      const rec = await this.#api.get();
      if (rec === undefined) {
        const created = await this.#api.create({
          holderIdentity: this.identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: nowDate,
          renewTime: nowDate,
          leaseTransitions: 0,
        });
        this.#observe(created, now);
        return 'acquired';
      }
      this.#observe(rec, now);
      const mine = rec.holderIdentity === this.identity;
      const free = rec.holderIdentity === '';
      const expired = now >= this.#observedAt + rec.leaseDurationSeconds * 1000;
      if (!mine && !free && !expired) return 'held-by-other';
      // A leader that sees its own record renews it; it never takes a lease it lost (`mine` is checked on the fresh read).
      const updated = await this.#api.update({
        ...rec,
        holderIdentity: this.identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: nowDate,
        acquireTime: mine ? rec.acquireTime : nowDate,
        leaseTransitions: mine ? rec.leaseTransitions : rec.leaseTransitions + 1,
      });
      this.#observe(updated, now);
      return 'acquired';
    } catch (err) {
      this.#log.warn('lease attempt failed', { error: describe(err) });
      return 'error';
    }
  }
}
