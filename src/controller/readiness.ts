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
  /**
   * Status fields that go with this answer (e.g. a policy's `enforcedBy`), written together with
   * the conditions so `kubectl get` never shows a Ready that disagrees with its columns.
   */
  readonly status?: Readonly<Record<string, unknown>>;
}

/**
 * Asked for accepted objects. For a rejected generation whose last accepted spec is still in
 * effect the reconciler asks too, but uses only `status` (Ready is False then, whatever it says).
 */
export type ReadyFor = (kind: Kind, namespace: string, name: string) => Readiness;

export const readyWhenAccepted: ReadyFor = () => ({
  ready: true,
  reason: 'Accepted',
  message: 'The accepted spec is in the desired state served to sidecars.',
});
