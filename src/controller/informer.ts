/**
 * A list+watch informer for one kind across all namespaces: a local cache of the objects (by
 * `namespace/name`), kept current from the API server's watch stream, with add/update/delete
 * handlers. Reconcilers read the cache, never the API server.
 *
 * The state machine, driven by a Scheduler so tests can walk every edge without a network:
 *
 *   list ──ok──▶ watch(from list RV) ──event──▶ cache + handlers, RV := event RV
 *    ▲  │          │ clean end ─────────────▶ watch again from the last RV (at once)
 *    │  └─error─▶ wait(backoff) ─▶ list    │ error / ERROR event ──▶ wait(backoff) ─▶ watch from last RV
 *    └────────────── 410 Gone (HTTP status or ERROR event with code 410): the RV expired ──┘
 *
 * Backoff is capped exponential with jitter and resets after any success. A relist compares the
 * fresh list with the cache, so objects deleted while we were not watching produce delete events.
 */
import { silentLogger } from '../telemetry/logger.ts';
import type { Logger } from '../telemetry/logger.ts';
import { DEFAULT_BACKOFF, backoffDelay } from './backoff.ts';
import type { BackoffPolicy } from './backoff.ts';
import type { Cancel, Scheduler } from './scheduler.ts';

/** The metadata fields the informer and the reconcilers read. */
export interface ObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly generation?: number;
  readonly creationTimestamp?: Date | string;
  readonly deletionTimestamp?: Date | string;
}

export interface KubeObject {
  readonly metadata?: ObjectMeta;
}

export interface ListResult<T> {
  readonly items: readonly T[];
  /** The list's resourceVersion: the watch starts from here. */
  readonly resourceVersion: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  readonly type: string;
  /** The object (ADDED/MODIFIED/DELETED/BOOKMARK) or a metav1.Status (ERROR). */
  readonly object: unknown;
}

export interface WatchHandle {
  stop(): void;
}

/** Where an informer gets its data; the Kubernetes adapter lives in src/k8s/client/. */
export interface ListWatchSource<T extends KubeObject> {
  list(): Promise<ListResult<T>>;
  /**
   * Starts a watch from `resourceVersion`. `onEvent` gets each event; `onDone` is called once when
   * the stream ends (`err` undefined/null for a clean end). Rejects when the watch cannot start.
   */
  watch(resourceVersion: string, onEvent: (e: WatchEvent) => void, onDone: (err: unknown) => void): Promise<WatchHandle>;
}

export interface InformerHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions<T extends KubeObject> {
  /** For logs and metrics, e.g. the kind. */
  readonly name: string;
  readonly source: ListWatchSource<T>;
  readonly scheduler: Scheduler;
  readonly handlers?: InformerHandlers<T>;
  readonly backoff?: BackoffPolicy;
  /** A watch that ends cleanly sooner than this with no events counts as a failure (no hot loop). */
  readonly minWatchMs?: number;
  readonly random?: () => number;
  readonly logger?: Logger;
}

export type InformerState = 'idle' | 'listing' | 'watching' | 'waiting' | 'stopped';

/** `namespace/name`, the cache key (and the work-queue key's tail). */
export function objectKey(obj: KubeObject): string | undefined {
  const name = obj.metadata?.name;
  if (typeof name !== 'string' || name === '') return undefined;
  return `${obj.metadata?.namespace ?? ''}/${name}`;
}

/** The HTTP status of a failed request or a watch ERROR event's Status, when there is one. */
export function statusCodeOf(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { statusCode?: unknown; code?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.code === 'number') return e.code;
  return undefined;
}

const GONE = 410;

export class Informer<T extends KubeObject> {
  readonly name: string;
  readonly #source: ListWatchSource<T>;
  readonly #scheduler: Scheduler;
  readonly #handlers: InformerHandlers<T>;
  readonly #backoff: BackoffPolicy;
  readonly #minWatchMs: number;
  readonly #random: () => number;
  readonly #log: Logger;
  readonly #cache = new Map<string, T>();
  #state: InformerState = 'idle';
  #synced = false;
  #rv = '';
  #failures = 0;
  /** Bumped on every transition: callbacks from an older list/watch are ignored. */
  #epoch = 0;
  #watch: WatchHandle | undefined;
  #timer: Cancel | undefined;
  #restarts = 0;
  #relists = 0;

  constructor(opts: InformerOptions<T>) {
    this.name = opts.name;
    this.#source = opts.source;
    this.#scheduler = opts.scheduler;
    this.#handlers = opts.handlers ?? {};
    this.#backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.#minWatchMs = opts.minWatchMs ?? 1000;
    this.#random = opts.random ?? Math.random;
    this.#log = (opts.logger ?? silentLogger).child({ informer: opts.name });
  }

  get state(): InformerState {
    return this.#state;
  }

  /** True once the first list has filled the cache (and forever after). */
  hasSynced(): boolean {
    return this.#synced;
  }

  /** The resourceVersion the next watch starts from. */
  get resourceVersion(): string {
    return this.#rv;
  }

  /** Restarts after errors (list or watch), for metrics and tests. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Full lists done (the first one included). */
  get lists(): number {
    return this.#relists;
  }

  get(namespace: string, name: string): T | undefined {
    return this.#cache.get(`${namespace}/${name}`);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  start(): void {
    if (this.#state !== 'idle') throw new TypeError(`informer ${this.name} was already started`);
    this.#startList();
  }

  /** Stops watching and cancels any pending retry; the cache keeps its last content. */
  stop(): void {
    this.#state = 'stopped';
    this.#epoch++;
    this.#timer?.();
    this.#timer = undefined;
    this.#stopWatch();
  }

  #startList(): void {
    const epoch = ++this.#epoch;
    this.#state = 'listing';
    this.#stopWatch();
    this.#source.list().then(
      (res) => {
        if (epoch !== this.#epoch) return;
        this.#relists++;
        this.#replace(res.items);
        this.#rv = res.resourceVersion;
        this.#synced = true;
        this.#failures = 0;
        this.#startWatch();
      },
      (err: unknown) => {
        if (epoch !== this.#epoch) return;
        this.#retry('list', err);
      },
    );
  }

  #startWatch(): void {
    const epoch = ++this.#epoch;
    this.#state = 'watching';
    const startedAt = this.#scheduler.now();
    let events = 0;
    const onEvent = (e: WatchEvent): void => {
      if (epoch !== this.#epoch) return;
      events++;
      this.#onEvent(e);
    };
    const onDone = (err: unknown): void => {
      if (epoch !== this.#epoch) return;
      this.#watch = undefined;
      if (err !== undefined && err !== null) {
        if (statusCodeOf(err) === GONE) this.#gone();
        else this.#retry('watch', err);
        return;
      }
      if (events === 0 && this.#scheduler.now() - startedAt < this.#minWatchMs) {
        this.#retry('watch', new Error('watch ended at once without events'));
        return;
      }
      this.#failures = 0;
      this.#startWatch();
    };
    this.#source.watch(this.#rv, onEvent, onDone).then(
      (handle) => {
        if (epoch !== this.#epoch) handle.stop();
        else this.#watch = handle;
      },
      (err: unknown) => {
        if (epoch !== this.#epoch) return;
        if (statusCodeOf(err) === GONE) this.#gone();
        else this.#retry('watch', err);
      },
    );
  }

  #onEvent(e: WatchEvent): void {
    if (e.type === 'ERROR') {
      if (statusCodeOf(e.object) === GONE) this.#gone();
      else this.#retry('watch', e.object);
      return;
    }
    const obj = e.object as T;
    if (obj === null || typeof obj !== 'object') return;
    const rv = obj.metadata?.resourceVersion;
    if (e.type === 'BOOKMARK') {
      if (typeof rv === 'string' && rv !== '') this.#rv = rv;
      return;
    }
    const key = objectKey(obj);
    if (key === undefined) {
      this.#log.warn('watch event without a name ignored', { type: e.type });
      return;
    }
    if (e.type === 'ADDED' || e.type === 'MODIFIED') {
      this.#upsert(key, obj);
    } else if (e.type === 'DELETED') {
      const old = this.#cache.get(key);
      this.#cache.delete(key);
      this.#call(() => this.#handlers.onDelete?.(old ?? obj));
    } else {
      this.#log.warn('unknown watch event type ignored', { type: e.type });
      return;
    }
    if (typeof rv === 'string' && rv !== '') this.#rv = rv;
  }

  /** The RV we hold is older than the server keeps: only a fresh list can resynchronize. */
  #gone(): void {
    this.#log.info('resourceVersion expired (410 Gone); listing again', { resourceVersion: this.#rv });
    this.#startList();
  }

  #retry(what: 'list' | 'watch', err: unknown): void {
    this.#stopWatch();
    this.#failures++;
    this.#restarts++;
    const delay = backoffDelay(this.#failures, this.#backoff, this.#random);
    this.#log.warn(`${what} failed; retrying`, { error: describe(err), delayMs: delay, failures: this.#failures });
    const epoch = ++this.#epoch;
    this.#state = 'waiting';
    this.#timer = this.#scheduler.after(delay, () => {
      this.#timer = undefined;
      if (epoch !== this.#epoch) return;
      if (what === 'list') this.#startList();
      else this.#startWatch();
    });
  }

  #replace(items: readonly T[]): void {
    const seen = new Set<string>();
    for (const obj of items) {
      const key = objectKey(obj);
      if (key === undefined) continue;
      seen.add(key);
      this.#upsert(key, obj);
    }
    for (const [key, old] of [...this.#cache]) {
      if (seen.has(key)) continue;
      this.#cache.delete(key);
      this.#call(() => this.#handlers.onDelete?.(old));
    }
  }

  #upsert(key: string, obj: T): void {
    const old = this.#cache.get(key);
    this.#cache.set(key, obj);
    if (old === undefined) this.#call(() => this.#handlers.onAdd?.(obj));
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.#call(() => this.#handlers.onUpdate?.(old, obj));
  }

  #stopWatch(): void {
    const w = this.#watch;
    this.#watch = undefined;
    try {
      w?.stop();
    } catch {
      // Stopping a stream that already failed may throw; the stream is gone either way.
    }
  }

  /** A throwing handler is logged; it must never break the informer's loop. */
  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error('informer handler threw', { error: describe(err) });
    }
  }
}

/** A short, token-free description of an error for logs. */
export function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 300);
  if (err !== null && typeof err === 'object') {
    const s = err as { code?: unknown; reason?: unknown; message?: unknown };
    return `status ${String(s.code)} ${String(s.reason)}: ${String(s.message)}`.slice(0, 300);
  }
  return String(err).slice(0, 300);
}
