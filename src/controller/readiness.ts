/**
 * When an accepted object counts as Ready. Today: as soon as it is accepted (it is in the desired
 * state every replica serves). The distribution layer replaces this with "accepted AND its
 * workloads ACKed the version" by passing its own `ReadyFor` to the controller, and calls
 * `Controller.refresh(kind, namespace, name)` when an ACK changes the answer.
 */
import type { Kind } from './desired-state.ts';

export interface Readiness {
  readonly ready: boolean;
  /** CamelCase condition reason. */
  readonly reason: string;
  readonly message: string;
}

/** Asked only for accepted objects; the reconciler handles rejected ones itself. */
export type ReadyFor = (kind: Kind, namespace: string, name: string) => Readiness;

export const readyWhenAccepted: ReadyFor = () => ({
  ready: true,
  reason: 'Accepted',
  message: 'The accepted spec is in the desired state served to sidecars.',
});
