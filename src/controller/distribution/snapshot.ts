/**
 * The cold-start snapshot: the leader keeps the latest bundle of each namespace in a ConfigMap
 * (`fhirgate-bundle`, keys `bundle.json`, `hash`, `version`). A sidecar mounts it and, when it
 * starts while the controller is unreachable, may load it instead of staying not-Ready — but only
 * after checking that sha256(bundle.json) equals `hash`: a truncated, hand-edited or half-updated
 * mount is refused (fail closed), exactly like a stream bundle with a wrong hash.
 *
 * Writer side (controller) and reader side (sidecar) live here together because they share the
 * file layout. The reader needs only node:fs; nothing here loads the Kubernetes client.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BuiltBundle } from './bundles.ts';
import type { Scheduler } from './coalesce.ts';
import { realScheduler } from './coalesce.ts';
import type { DistributionLog } from './server.ts';

export const SNAPSHOT_CONFIGMAP = 'fhirgate-bundle';
export const SNAPSHOT_KEYS = { content: 'bundle.json', hash: 'hash', version: 'version' } as const;

/** The ConfigMap calls the writer makes; `kubeConfigMapApi` adapts CoreV1Api. */
export interface ConfigMapApi {
  /** undefined when the ConfigMap does not exist. */
  read(namespace: string, name: string): Promise<{ data: Record<string, string>; resourceVersion: string } | undefined>;
  create(namespace: string, name: string, data: Record<string, string>): Promise<void>;
  replace(namespace: string, name: string, data: Record<string, string>, resourceVersion: string): Promise<void>;
}

/** The structural slice of @kubernetes/client-node's CoreV1Api used by kubeConfigMapApi. */
export interface CoreV1ConfigMaps {
  readNamespacedConfigMap(p: { name: string; namespace: string }): Promise<{ data?: Record<string, string>; metadata?: { resourceVersion?: string } }>;
  createNamespacedConfigMap(p: { namespace: string; body: object }): Promise<unknown>;
  replaceNamespacedConfigMap(p: { name: string; namespace: string; body: object }): Promise<unknown>;
}

const LABELS = { 'app.kubernetes.io/managed-by': 'fhirgate-controller', 'app.kubernetes.io/component': 'policy-snapshot' };

export function kubeConfigMapApi(core: CoreV1ConfigMaps): ConfigMapApi {
  const body = (namespace: string, name: string, data: Record<string, string>, resourceVersion?: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, labels: LABELS, ...(resourceVersion !== undefined ? { resourceVersion } : {}) },
    data,
  });
  return {
    async read(namespace, name) {
      try {
        const cm = await core.readNamespacedConfigMap({ name, namespace });
        return { data: cm.data ?? {}, resourceVersion: cm.metadata?.resourceVersion ?? '' };
      } catch (err) {
        if ((err as { code?: unknown }).code === 404) return undefined;
        throw err;
      }
    },
    async create(namespace, name, data) {
      await core.createNamespacedConfigMap({ namespace, body: body(namespace, name, data) });
    },
    async replace(namespace, name, data, resourceVersion) {
      await core.replaceNamespacedConfigMap({ name, namespace, body: body(namespace, name, data, resourceVersion) });
    },
  };
}

export interface SnapshotWriterOptions {
  readonly api: ConfigMapApi;
  /** Only the leader writes; followers' calls are no-ops. */
  readonly isLeader: () => boolean;
  readonly log?: DistributionLog;
  readonly scheduler?: Scheduler;
  /** Retry backoff after a failed write: doubles from initial up to max. */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
}

/**
 * Writes bundles into the per-namespace ConfigMap. Writes for one namespace are serialized and
 * collapse to the latest bundle; a failed write is retried with capped backoff (a newer bundle
 * replaces the one being retried). Conflicts (someone else wrote) are retried the same way.
 */
export class SnapshotWriter {
  readonly #o: SnapshotWriterOptions;
  readonly #scheduler: Scheduler;
  readonly #latest = new Map<string, BuiltBundle>();
  readonly #busy = new Set<string>();
  readonly #retry = new Map<string, { handle: unknown; delayMs: number }>();
  readonly #written = new Map<string, string>();
  #closed = false;

  constructor(o: SnapshotWriterOptions) {
    this.#o = o;
    this.#scheduler = o.scheduler ?? realScheduler;
  }

  /** Queue the latest bundle of a namespace for writing; resolves when this round is done. */
  async write(b: BuiltBundle): Promise<void> {
    if (this.#closed) return;
    this.#latest.set(b.namespace, b);
    await this.#drain(b.namespace);
  }

  /** Hash last written per namespace (for tests and status). */
  written(namespace: string): string | undefined {
    return this.#written.get(namespace);
  }

  close(): void {
    this.#closed = true;
    for (const r of this.#retry.values()) this.#scheduler.clear(r.handle);
    this.#retry.clear();
  }

  async #drain(ns: string): Promise<void> {
    if (this.#busy.has(ns)) return;
    this.#busy.add(ns);
    try {
      // Bounded: each round either writes the latest or stops; a newer bundle arriving meanwhile
      // gets at most one more round per arrival.
      for (let round = 0; round < 16 && !this.#closed; round++) {
        const b = this.#latest.get(ns);
        if (b === undefined || this.#written.get(ns) === b.bundle.hash || !this.#o.isLeader()) return;
        try {
          await this.#put(b);
          this.#written.set(ns, b.bundle.hash);
          const r = this.#retry.get(ns);
          if (r !== undefined) this.#scheduler.clear(r.handle);
          this.#retry.delete(ns);
        } catch (err) {
          this.#o.log?.warn('snapshot: write failed, will retry', { namespace: ns, error: (err as Error).message });
          this.#scheduleRetry(ns);
          return;
        }
      }
    } finally {
      this.#busy.delete(ns);
    }
  }

  async #put(b: BuiltBundle): Promise<void> {
    const data = {
      [SNAPSHOT_KEYS.content]: b.bundle.content.toString('utf8'),
      [SNAPSHOT_KEYS.hash]: b.bundle.hash,
      [SNAPSHOT_KEYS.version]: b.bundle.version,
    };
    const existing = await this.#o.api.read(b.namespace, SNAPSHOT_CONFIGMAP);
    if (existing === undefined) await this.#o.api.create(b.namespace, SNAPSHOT_CONFIGMAP, data);
    else if (existing.data[SNAPSHOT_KEYS.hash] !== b.bundle.hash) {
      await this.#o.api.replace(b.namespace, SNAPSHOT_CONFIGMAP, data, existing.resourceVersion);
    }
  }

  #scheduleRetry(ns: string): void {
    if (this.#closed) return;
    const prev = this.#retry.get(ns);
    if (prev !== undefined) this.#scheduler.clear(prev.handle);
    const initial = this.#o.retryInitialMs ?? 1000;
    const delayMs = prev === undefined ? initial : Math.min(prev.delayMs * 2, this.#o.retryMaxMs ?? 60_000);
    const handle = this.#scheduler.set(() => void this.#drain(ns), delayMs);
    this.#retry.set(ns, { handle, delayMs });
  }
}

// ── sidecar side ──────────────────────────────────────────────────────────────────────────────

export interface SnapshotBundle {
  readonly version: string;
  readonly hash: string;
  readonly content: Buffer;
}

export type SnapshotRead =
  | { readonly ok: true; readonly bundle: SnapshotBundle }
  | { readonly ok: false; readonly reason: 'snapshot_missing' | 'snapshot_invalid' | 'hash_mismatch' };

const MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024;

/**
 * Reads a mounted snapshot: `file` is the mounted `bundle.json`; `hash` and `version` are the
 * sibling files of the same ConfigMap volume. Verifies the hash; never throws.
 */
export function readSnapshot(file: string): SnapshotRead {
  let content: Buffer;
  let hash: string;
  let version: string;
  try {
    content = readFileSync(file);
    const dir = dirname(file);
    hash = readFileSync(join(dir, SNAPSHOT_KEYS.hash), 'utf8').trim();
    version = readFileSync(join(dir, SNAPSHOT_KEYS.version), 'utf8').trim();
  } catch {
    return { ok: false, reason: 'snapshot_missing' };
  }
  if (content.length > MAX_SNAPSHOT_BYTES || !/^[0-9a-f]{64}$/.test(hash) || !/^[0-9]{1,20}$/.test(version)) {
    return { ok: false, reason: 'snapshot_invalid' };
  }
  if (createHash('sha256').update(content).digest('hex') !== hash) return { ok: false, reason: 'hash_mismatch' };
  return { ok: true, bundle: { version, hash, content } };
}
