/**
 * The controller's Prometheus metrics. Labels are bounded: `kind` is one of four, `result` one of
 * four. Gauges are read at scrape time from the live objects, so they cannot drift.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Kind } from './desired-state.ts';

export type ReconcileResult = 'accepted' | 'rejected' | 'deleted' | 'error';

export interface MetricSources {
  queueDepth(): number;
  isLeader(): boolean;
  synced(kind: Kind): boolean;
  informerRestarts(kind: Kind): number;
}

export interface ControllerMetrics {
  readonly registry: Registry;
  reconciled(kind: Kind, result: ReconcileResult): void;
}

export const KIND_LABELS: readonly Kind[] = ['FhirAccessPolicy', 'TrustedIssuer', 'SmartClient', 'TokenRevocation'];

export function createControllerMetrics(sources: MetricSources, opts: { defaultMetrics?: boolean } = {}): ControllerMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'fhirgate_controller_' });
  const reconciles = new Counter({
    name: 'fhirgate_controller_reconcile_total',
    help: 'Reconciles by kind and result (accepted, rejected, deleted, error).',
    labelNames: ['kind', 'result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'fhirgate_controller_queue_depth',
    help: 'Keys waiting in the work queue.',
    registers: [registry],
    collect() {
      this.set(sources.queueDepth());
    },
  });
  new Gauge({
    name: 'fhirgate_controller_leader',
    help: '1 when this replica holds the leader Lease (and writes status), else 0.',
    registers: [registry],
    collect() {
      this.set(sources.isLeader() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'fhirgate_controller_informer_synced',
    help: '1 once the informer of a kind has listed it, else 0.',
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      for (const k of KIND_LABELS) this.set({ kind: k }, sources.synced(k) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'fhirgate_controller_informer_restarts',
    help: 'List/watch restarts after errors since start, by kind.',
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      for (const k of KIND_LABELS) this.set({ kind: k }, sources.informerRestarts(k));
    },
  });
  for (const k of KIND_LABELS) for (const r of ['accepted', 'rejected', 'deleted', 'error'] as const) reconciles.inc({ kind: k, result: r }, 0);
  return { registry, reconciled: (kind, result) => reconciles.inc({ kind, result }) };
}
