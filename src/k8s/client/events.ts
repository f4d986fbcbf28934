/**
 * Kubernetes Events (`events.k8s.io/v1`) about our objects, so `kubectl describe` and
 * `kubectl get events` show why an object was rejected. The note is the condition message:
 * field paths and compiler text, never a token or patient data.
 */
import { EventsV1Api, V1MicroTime } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { API_VERSION } from '../crd.ts';

export const REPORTING_CONTROLLER = 'fhirgate.io/controller';

export interface EventSubject {
  readonly metadata?: { readonly name?: string; readonly namespace?: string; readonly uid?: string; readonly resourceVersion?: string };
}

/** Event notes are limited to 1 KiB by the API server. */
const MAX_NOTE = 1024;

export class EventClient {
  readonly #api: EventsV1Api;
  readonly #instance: string;

  constructor(kc: KubeConfig, reportingInstance: string) {
    this.#api = kc.makeApiClient(EventsV1Api);
    this.#instance = reportingInstance.slice(0, 128);
  }

  async record(kind: string, obj: EventSubject, type: 'Normal' | 'Warning', reason: string, note: string, action = 'Reconcile'): Promise<void> {
    const { name, namespace, uid, resourceVersion } = obj.metadata ?? {};
    if (name === undefined || namespace === undefined) throw new TypeError('event subject without name/namespace');
    await this.#api.createNamespacedEvent({
      namespace,
      body: {
        metadata: { name: `${name.slice(0, 200)}.${randomBytes(8).toString('hex')}`, namespace },
        eventTime: new V1MicroTime(),
        reportingController: REPORTING_CONTROLLER,
        reportingInstance: this.#instance,
        action,
        reason,
        type,
        note: note.length > MAX_NOTE ? `${note.slice(0, MAX_NOTE - 1)}…` : note,
        regarding: { apiVersion: API_VERSION, kind, name, namespace, ...(uid !== undefined ? { uid } : {}), ...(resourceVersion !== undefined ? { resourceVersion } : {}) },
      },
    });
  }
}
