/**
 * One `coordination.k8s.io/v1` Lease, read and written with optimistic concurrency (the update
 * carries the resourceVersion it read; the API server answers 409 if someone wrote in between).
 * Shapes are plain (Date, string) so leader election can be tested without the client library.
 */
import { CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import type { KubeConfig, V1Lease } from '@kubernetes/client-node';

export interface LeaseFields {
  /** '' when nobody holds the Lease. */
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: Date | undefined;
  readonly renewTime: Date | undefined;
  readonly leaseTransitions: number;
  /** Opaque; sent back on update for optimistic concurrency. */
  readonly resourceVersion?: string;
}

const micro = (d: Date | undefined): V1MicroTime | undefined => (d === undefined ? undefined : new V1MicroTime(d.getTime()));
const date = (d: Date | string | undefined): Date | undefined => (d === undefined ? undefined : new Date(d));

function fromLease(l: V1Lease): LeaseFields {
  return {
    holderIdentity: l.spec?.holderIdentity ?? '',
    leaseDurationSeconds: l.spec?.leaseDurationSeconds ?? 0,
    acquireTime: date(l.spec?.acquireTime),
    renewTime: date(l.spec?.renewTime),
    leaseTransitions: l.spec?.leaseTransitions ?? 0,
    ...(l.metadata?.resourceVersion !== undefined ? { resourceVersion: l.metadata.resourceVersion } : {}),
  };
}

const isNotFound = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === 404;

export class LeaseClient {
  readonly #api: CoordinationV1Api;
  readonly namespace: string;
  readonly name: string;

  constructor(kc: KubeConfig, namespace: string, name: string) {
    this.#api = kc.makeApiClient(CoordinationV1Api);
    this.namespace = namespace;
    this.name = name;
  }

  async get(): Promise<LeaseFields | undefined> {
    try {
      return fromLease(await this.#api.readNamespacedLease({ name: this.name, namespace: this.namespace }));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async create(f: LeaseFields): Promise<LeaseFields> {
    return fromLease(await this.#api.createNamespacedLease({ namespace: this.namespace, body: this.#body(f) }));
  }

  async update(f: LeaseFields): Promise<LeaseFields> {
    return fromLease(await this.#api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body: this.#body(f) }));
  }

  #body(f: LeaseFields): V1Lease {
    const acquireTime = micro(f.acquireTime);
    const renewTime = micro(f.renewTime);
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.name, namespace: this.namespace, ...(f.resourceVersion !== undefined ? { resourceVersion: f.resourceVersion } : {}) },
      spec: {
        holderIdentity: f.holderIdentity,
        leaseDurationSeconds: f.leaseDurationSeconds,
        leaseTransitions: f.leaseTransitions,
        ...(acquireTime !== undefined ? { acquireTime } : {}),
        ...(renewTime !== undefined ? { renewTime } : {}),
      },
    };
  }
}
