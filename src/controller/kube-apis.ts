/**
 * ControllerApis backed by a real API server (src/k8s/client/). Kept apart from controller.ts so
 * the controller's logic is tested with fakes and this file is exercised by the e2e tests.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { CustomResourceClient, EventClient, LeaseClient } from '../k8s/client/index.ts';
import type { ControllerApis } from './controller.ts';
import type { Kind } from './desired-state.ts';
import type { ListWatchSource } from './informer.ts';
import { LEASE_NAME } from './leader.ts';
import type { CachedObject } from './reconcile.ts';

export interface KubeApisOptions {
  /** Namespace of the leader Lease. */
  readonly leaseNamespace: string;
  readonly leaseName?: string;
  /** Names this replica in Events (`reportingInstance`). */
  readonly identity: string;
  readonly watchTimeoutSeconds?: number;
}

export function kubeControllerApis(kc: KubeConfig, opts: KubeApisOptions): ControllerApis {
  const resources = new CustomResourceClient(kc, opts.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: opts.watchTimeoutSeconds } : {});
  const events = new EventClient(kc, opts.identity);
  const lease = new LeaseClient(kc, opts.leaseNamespace, opts.leaseName ?? LEASE_NAME);
  return {
    source: (kind: Kind): ListWatchSource<CachedObject> => ({
      list: () => resources.list<CachedObject>(kind),
      watch: (rv, onEvent, onDone) => resources.watch(kind, rv, onEvent, onDone),
    }),
    status: { patchStatus: (kind, ns, name, status) => resources.patchStatus(kind, ns, name, status) },
    events: { warning: (kind, obj, reason, note) => events.record(kind, obj, 'Warning', reason, note) },
    lease,
  };
}
