/**
 * fhirgate-controller's core, wired: one informer per kind → one keyed, rate-limited work queue →
 * the kind's reconciler → the desired state (read by the bundle server) and the status writer;
 * leader election decides who writes status and Events.
 *
 * Every replica runs informers and reconcilers, so every replica holds a complete desired state
 * and can serve bundles; only the leader writes to the API server. When a replica becomes leader
 * it re-queues every object, so status written (or missed) by a previous leader is corrected.
 *
 * Only spec changes trigger work (generation, deletion, and for SmartClient the quarantine in
 * status): our own status writes come back through the watch and must not cause another
 * reconcile. A periodic resync re-queues everything as a safety net.
 */
import type { Logger } from '../telemetry/logger.ts';
import { silentLogger } from '../telemetry/logger.ts';
import type { BackoffPolicy } from './backoff.ts';
import { DesiredState } from './desired-state.ts';
import type { Kind } from './desired-state.ts';
import { Informer, describe } from './informer.ts';
import type { ListWatchSource } from './informer.ts';
import { LeaderElector } from './leader.ts';
import type { LeaseApi } from './leader.ts';
import { createControllerMetrics } from './metrics.ts';
import type { ControllerMetrics } from './metrics.ts';
import { WorkQueue } from './queue.ts';
import { readyWhenAccepted } from './readiness.ts';
import type { ReadyFor } from './readiness.ts';
import { reconcileObject } from './reconcile.ts';
import type { CachedObject, KindReconciler, ReconcileContext } from './reconcile.ts';
import { clientReconciler } from './reconcile-client.ts';
import { issuerReconciler } from './reconcile-issuer.ts';
import { policyReconciler } from './reconcile-policy.ts';
import { revocationReconciler } from './reconcile-revocation.ts';
import { systemScheduler } from './scheduler.ts';
import type { Cancel, Scheduler } from './scheduler.ts';
import { StatusWriter } from './status-writer.ts';
import type { EventApi, StatusApi } from './status-writer.ts';

export const RECONCILERS: readonly KindReconciler[] = [policyReconciler, issuerReconciler, clientReconciler, revocationReconciler];

/** What the controller needs from the API server (src/k8s/client/ implements it; tests fake it). */
export interface ControllerApis {
  /** A list+watch source per kind. */
  source(kind: Kind): ListWatchSource<CachedObject>;
  readonly status: StatusApi;
  readonly events: EventApi;
  readonly lease: LeaseApi;
}

export interface ControllerOptions {
  readonly apis: ControllerApis;
  /** This replica's name in the Lease (pod name + a random suffix in production). */
  readonly identity: string;
  readonly scheduler?: Scheduler;
  readonly desired?: DesiredState;
  readonly readyFor?: ReadyFor;
  readonly workers?: number;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /** Re-queue every object this often (default 10 min). */
  readonly resyncMs?: number;
  readonly informerBackoff?: BackoffPolicy;
  readonly queueBackoff?: BackoffPolicy;
  readonly logger?: Logger;
  /** Called when this replica gains (true) or loses (false) the leader Lease. */
  readonly onLeadershipChange?: (leader: boolean) => void;
  /** Include Node process metrics (default true; tests with several controllers turn it off). */
  readonly defaultMetrics?: boolean;
}

/** Work-queue keys are `Kind/namespace/name`. */
export function queueKey(kind: Kind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export function parseQueueKey(key: string): { kind: Kind; namespace: string; name: string } | undefined {
  const [kind, namespace, name, ...rest] = key.split('/');
  if (rest.length > 0 || kind === undefined || namespace === undefined || name === undefined || name === '') return undefined;
  if (!RECONCILERS.some((r) => r.kind === kind)) return undefined;
  return { kind: kind as Kind, namespace, name };
}

/** Whether an update is worth a reconcile: spec (generation), deletion, or a SmartClient quarantine. */
export function relevantChange(kind: Kind, oldObj: CachedObject, newObj: CachedObject): boolean {
  if (oldObj.metadata?.generation !== newObj.metadata?.generation) return true;
  if ((oldObj.metadata?.deletionTimestamp === undefined) !== (newObj.metadata?.deletionTimestamp === undefined)) return true;
  if (oldObj.metadata?.uid !== newObj.metadata?.uid) return true;
  if (kind === 'SmartClient') return oldObj.status?.['quarantined'] !== newObj.status?.['quarantined'];
  return false;
}

export class Controller {
  readonly desired: DesiredState;
  readonly metrics: ControllerMetrics;
  readonly identity: string;
  readonly #scheduler: Scheduler;
  readonly #log: Logger;
  readonly #queue: WorkQueue;
  readonly #informers = new Map<Kind, Informer<CachedObject>>();
  readonly #statusWriter: StatusWriter;
  readonly #leader: LeaderElector;
  readonly #readyFor: ReadyFor;
  readonly #resyncMs: number;
  #resyncTimer: Cancel | undefined;
  #started = false;
  #stopped = false;

  constructor(opts: ControllerOptions) {
    this.identity = opts.identity;
    this.#scheduler = opts.scheduler ?? systemScheduler;
    this.#log = (opts.logger ?? silentLogger).child({ component: 'controller' });
    this.desired = opts.desired ?? new DesiredState();
    this.#readyFor = opts.readyFor ?? readyWhenAccepted;
    this.#resyncMs = opts.resyncMs ?? 10 * 60_000;
    this.#statusWriter = new StatusWriter({ status: opts.apis.status, events: opts.apis.events, logger: this.#log });
    this.#queue = new WorkQueue({
      scheduler: this.#scheduler,
      workers: opts.workers ?? 2,
      logger: this.#log,
      ...(opts.queueBackoff !== undefined ? { backoff: opts.queueBackoff } : {}),
      onResult: (key, result) => {
        if (result === 'error') {
          const k = parseQueueKey(key);
          if (k !== undefined) this.metrics.reconciled(k.kind, 'error');
        }
      },
    });
    for (const def of RECONCILERS) {
      const kind = def.kind;
      const enqueue = (o: CachedObject): void => this.#enqueue(kind, o, def.claim !== undefined);
      this.#informers.set(
        kind,
        new Informer<CachedObject>({
          name: kind,
          source: opts.apis.source(kind),
          scheduler: this.#scheduler,
          logger: this.#log,
          ...(opts.informerBackoff !== undefined ? { backoff: opts.informerBackoff } : {}),
          handlers: {
            onAdd: enqueue,
            onUpdate: (o, n) => {
              if (relevantChange(kind, o, n)) enqueue(n);
            },
            onDelete: enqueue,
          },
        }),
      );
    }
    this.#leader = new LeaderElector({
      api: opts.apis.lease,
      identity: opts.identity,
      scheduler: this.#scheduler,
      logger: this.#log,
      ...(opts.leaseDurationMs !== undefined ? { leaseDurationMs: opts.leaseDurationMs } : {}),
      ...(opts.renewDeadlineMs !== undefined ? { renewDeadlineMs: opts.renewDeadlineMs } : {}),
      ...(opts.retryPeriodMs !== undefined ? { retryPeriodMs: opts.retryPeriodMs } : {}),
      onStartedLeading: () => {
        this.#statusWriter.setLeader(true);
        this.#enqueueAll();
        opts.onLeadershipChange?.(true);
      },
      onStoppedLeading: () => {
        this.#statusWriter.setLeader(false);
        opts.onLeadershipChange?.(false);
      },
    });
    this.metrics = createControllerMetrics(
      {
        queueDepth: () => this.#queue.length,
        isLeader: () => this.#leader.isLeader,
        synced: (k) => this.#informers.get(k)?.hasSynced() ?? false,
        informerRestarts: (k) => this.#informers.get(k)?.restarts ?? 0,
      },
      { defaultMetrics: opts.defaultMetrics ?? true },
    );
  }

  get isLeader(): boolean {
    return this.#leader.isLeader;
  }

  /** True once every kind has been listed: the desired state is complete. */
  hasSynced(): boolean {
    return [...this.#informers.values()].every((i) => i.hasSynced());
  }

  /**
   * True once every kind has been listed AND every key that listing queued has been reconciled:
   * the desired state now holds everything the cluster holds. Serving bundles before this would
   * hand a reconnecting sidecar a partial bundle (a missing revocation, a missing policy).
   * Failed keys waiting for a retry do not count: their accepted value is already in `desired`.
   */
  hasSettled(): boolean {
    return this.hasSynced() && this.#queue.length === 0 && this.#queue.inFlight === 0;
  }

  /** The informer of one kind (its cache is the controller's view of the cluster). */
  informer(kind: Kind): Informer<CachedObject> {
    const i = this.#informers.get(kind);
    if (i === undefined) throw new TypeError(`unknown kind ${kind}`);
    return i;
  }

  /** Keys waiting in the work queue. */
  get queueDepth(): number {
    return this.#queue.length;
  }

  /** Re-evaluates one object soon (e.g. the distribution layer saw an ACK that changes Ready). */
  refresh(kind: Kind, namespace: string, name: string): void {
    this.#queue.add(queueKey(kind, namespace, name));
  }

  start(): void {
    if (this.#started) throw new TypeError('controller already started');
    this.#started = true;
    this.#queue.start((key) => this.#process(key));
    for (const i of this.#informers.values()) i.start();
    this.#leader.start();
    this.#scheduleResync();
    this.#log.info('controller started', { identity: this.identity });
  }

  /**
   * Graceful stop: informers stop, the queue drains (status of in-flight work is written while we
   * still lead), then the Lease is released. `release: false` simulates a crash for tests.
   */
  async stop(opts: { release: boolean } = { release: true }): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#resyncTimer?.();
    for (const i of this.#informers.values()) i.stop();
    if (!opts.release) this.#statusWriter.setLeader(false);
    await this.#queue.shutdown();
    await this.#leader.stop(opts);
    this.#statusWriter.setLeader(false);
    this.#log.info('controller stopped');
  }

  #scheduleResync(): void {
    this.#resyncTimer = this.#scheduler.after(this.#resyncMs, () => {
      if (this.#stopped) return;
      this.#enqueueAll();
      this.#scheduleResync();
    });
  }

  #enqueue(kind: Kind, obj: CachedObject, withSiblings: boolean): void {
    const ns = obj.metadata?.namespace;
    const name = obj.metadata?.name;
    if (ns === undefined || name === undefined) return;
    this.#queue.add(queueKey(kind, ns, name));
    // A claim (issuer URL, client id, base path) may have been released or taken: the other
    // objects of the kind in the namespace may change verdict.
    if (!withSiblings) return;
    for (const o of this.#informers.get(kind)?.list() ?? []) {
      if (o.metadata?.namespace === ns && o.metadata.name !== undefined && o.metadata.name !== name) this.#queue.add(queueKey(kind, ns, o.metadata.name));
    }
  }

  #enqueueAll(): void {
    for (const [kind, inf] of this.#informers) {
      for (const o of inf.list()) {
        if (o.metadata?.namespace !== undefined && o.metadata.name !== undefined) this.#queue.add(queueKey(kind, o.metadata.namespace, o.metadata.name));
      }
    }
  }

  async #process(key: string): Promise<number | void> {
    const k = parseQueueKey(key);
    if (k === undefined) {
      this.#log.error('malformed queue key dropped', { key });
      return;
    }
    const def = RECONCILERS.find((r) => r.kind === k.kind);
    const inf = this.#informers.get(k.kind);
    if (def === undefined || inf === undefined) return;
    const ctx: ReconcileContext = {
      desired: this.desired,
      statusWriter: this.#statusWriter,
      readyFor: this.#readyFor,
      get: (ns, name) => inf.get(ns, name),
      list: () => inf.list(),
      now: () => this.#scheduler.now(),
    };
    try {
      const outcome = await reconcileObject(def, ctx, k.namespace, k.name);
      this.metrics.reconciled(k.kind, outcome.result);
      return outcome.requeueAfterMs;
    } catch (err) {
      this.#log.warn('reconcile error', { key, error: describe(err) });
      throw err;
    }
  }
}
