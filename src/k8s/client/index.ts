/** Thin wrappers over @kubernetes/client-node used by fhirgate-controller. */
export { KubeConfigError, loadKubeConfig, serverOf } from './kubeconfig.ts';
export { CustomResourceClient, pluralOf } from './custom-resources.ts';
export type { CustomResourceClientOptions, ListPage, WatchEventLike, WatchStopper } from './custom-resources.ts';
export { EventClient, REPORTING_CONTROLLER } from './events.ts';
export type { EventSubject } from './events.ts';
export { LeaseClient } from './leases.ts';
export type { LeaseFields } from './leases.ts';
