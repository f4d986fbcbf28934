/**
 * In-memory stand-ins for the API server pieces the controller talks to: a list/watch source per
 * kind with resourceVersions and injectable failures, a status patcher that bumps the
 * resourceVersion but not the generation (like the real status subresource), an event sink and a
 * Lease with optimistic concurrency.
 */
import type { Kind } from '../../../src/controller/desired-state.ts';
import type { ListResult, ListWatchSource, WatchEvent, WatchHandle } from '../../../src/controller/informer.ts';
import type { LeaseApi, LeaseRecord } from '../../../src/controller/leader.ts';
import type { CachedObject } from '../../../src/controller/reconcile.ts';

export class ApiError extends Error {
  readonly code: number;
  constructor(code: number, message = `status ${code}`) {
    super(message);
    this.code = code;
  }
}

interface Watcher {
  readonly onEvent: (e: WatchEvent) => void;
  readonly onDone: (err: unknown) => void;
  stopped: boolean;
}

/** One kind's objects, list and watch. */
export class FakeSource implements ListWatchSource<CachedObject> {
  readonly objects = new Map<string, CachedObject>();
  rv = 100;
  listCalls = 0;
  watchCalls: string[] = [];
  /** Errors the next list() calls throw, in order. */
  listFailures: unknown[] = [];
  /** Errors the next watch() calls reject with, in order. */
  watchFailures: unknown[] = [];
  watchers: Watcher[] = [];

  async list(): Promise<ListResult<CachedObject>> {
    this.listCalls++;
    const f = this.listFailures.shift();
    if (f !== undefined) throw f;
    return { items: [...this.objects.values()].map((o) => structuredClone(o)), resourceVersion: String(this.rv) };
  }

  async watch(resourceVersion: string, onEvent: (e: WatchEvent) => void, onDone: (err: unknown) => void): Promise<WatchHandle> {
    this.watchCalls.push(resourceVersion);
    const f = this.watchFailures.shift();
    if (f !== undefined) throw f;
    const w: Watcher = { onEvent, onDone, stopped: false };
    this.watchers.push(w);
    return { stop: () => void (w.stopped = true) };
  }

  get active(): Watcher[] {
    return this.watchers.filter((w) => !w.stopped);
  }

  emit(type: string, object: unknown): void {
    for (const w of this.active) w.onEvent({ type, object: structuredClone(object) });
  }

  /** Ends every open watch (err undefined = clean end). */
  end(err?: unknown): void {
    for (const w of this.active) {
      w.stopped = true;
      w.onDone(err);
    }
  }

  /** Create or update like the API server: bump RV, bump generation when the spec changed. */
  apply(ns: string, name: string, spec: unknown, extra: { creationTimestamp?: string } = {}): CachedObject {
    const key = `${ns}/${name}`;
    const old = this.objects.get(key);
    const rv = String(++this.rv);
    const specChanged = old === undefined || JSON.stringify(old.spec) !== JSON.stringify(spec);
    const obj: CachedObject = {
      metadata: {
        name,
        namespace: ns,
        uid: old?.metadata?.uid ?? `uid-${name}`,
        resourceVersion: rv,
        generation: (old?.metadata?.generation ?? 0) + (specChanged ? 1 : 0),
        creationTimestamp: old?.metadata?.creationTimestamp ?? extra.creationTimestamp ?? new Date(Date.UTC(2026, 0, 1) + this.rv * 1000).toISOString(),
      },
      spec,
      ...(old?.status !== undefined ? { status: old.status } : {}),
    };
    this.objects.set(key, obj);
    this.emit(old === undefined ? 'ADDED' : 'MODIFIED', obj);
    return obj;
  }

  remove(ns: string, name: string): void {
    const key = `${ns}/${name}`;
    const old = this.objects.get(key);
    if (old === undefined) return;
    this.objects.delete(key);
    this.emit('DELETED', { ...old, metadata: { ...old.metadata, resourceVersion: String(++this.rv) } });
  }

  /** Merge-patches status: RV changes, generation does not (status subresource semantics). */
  patchStatus(ns: string, name: string, status: Readonly<Record<string, unknown>>): void {
    const key = `${ns}/${name}`;
    const old = this.objects.get(key);
    if (old === undefined) throw new ApiError(404);
    const obj: CachedObject = {
      ...old,
      metadata: { ...old.metadata, resourceVersion: String(++this.rv) },
      status: { ...(old.status ?? {}), ...structuredClone(status) },
    };
    this.objects.set(key, obj);
    this.emit('MODIFIED', obj);
  }
}

export class FakeLease implements LeaseApi {
  record: LeaseRecord | undefined;
  rv = 0;
  /** While true, every call fails like an unreachable API server. */
  down = false;
  calls = 0;

  async get(): Promise<LeaseRecord | undefined> {
    this.calls++;
    if (this.down) throw new ApiError(503, 'unavailable');
    return this.record === undefined ? undefined : { ...this.record };
  }

  async create(r: LeaseRecord): Promise<LeaseRecord> {
    this.calls++;
    if (this.down) throw new ApiError(503, 'unavailable');
    if (this.record !== undefined) throw new ApiError(409, 'exists');
    this.record = { ...r, resourceVersion: String(++this.rv) };
    return { ...this.record };
  }

  async update(r: LeaseRecord): Promise<LeaseRecord> {
    this.calls++;
    if (this.down) throw new ApiError(503, 'unavailable');
    if (this.record === undefined) throw new ApiError(404);
    if (r.resourceVersion !== this.record.resourceVersion) throw new ApiError(409, 'conflict');
    this.record = { ...r, resourceVersion: String(++this.rv) };
    return { ...this.record };
  }
}

/** The whole fake cluster the controller sees. */
export class FakeCluster {
  readonly sources = new Map<Kind, FakeSource>([
    ['FhirAccessPolicy', new FakeSource()],
    ['TrustedIssuer', new FakeSource()],
    ['SmartClient', new FakeSource()],
    ['TokenRevocation', new FakeSource()],
  ]);
  readonly lease = new FakeLease();
  readonly statusWrites: Array<{ kind: Kind; ns: string; name: string; status: Readonly<Record<string, unknown>> }> = [];
  readonly events: Array<{ kind: Kind; name: string; reason: string; note: string }> = [];
  statusDown = false;

  of(kind: Kind): FakeSource {
    const s = this.sources.get(kind);
    if (s === undefined) throw new TypeError(kind);
    return s;
  }

  apis() {
    return {
      source: (kind: Kind) => this.of(kind),
      status: {
        patchStatus: async (kind: Kind, ns: string, name: string, status: Readonly<Record<string, unknown>>) => {
          if (this.statusDown) throw new ApiError(503, 'unavailable');
          this.statusWrites.push({ kind, ns, name, status });
          this.of(kind).patchStatus(ns, name, status);
        },
      },
      events: {
        warning: async (kind: Kind, obj: CachedObject, reason: string, note: string) => {
          this.events.push({ kind, name: obj.metadata?.name ?? '', reason, note });
        },
      },
      lease: this.lease,
    };
  }
}

/** Reads a condition from a cached object's status. */
export function condition(obj: CachedObject | undefined, type: string): { status: string; reason: string; message: string; lastTransitionTime: string; observedGeneration?: number } | undefined {
  const c = obj?.status?.conditions?.find((x) => x.type === type);
  return c === undefined ? undefined : { ...c };
}
