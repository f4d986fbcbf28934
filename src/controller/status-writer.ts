/**
 * The one place that writes status and Events. Only the leader writes (every replica reconciles,
 * so each can serve bundles, but two writers would fight over status); a write is skipped when
 * the object already carries exactly that status, so our own status update, which comes back
 * through the watch, settles instead of looping.
 *
 * Writes are JSON merge patches of the `status` subresource with only the fields the controller
 * owns: fields other writers own (a SmartClient's quarantine) are left alone.
 */
import { silentLogger } from '../telemetry/logger.ts';
import type { Logger } from '../telemetry/logger.ts';
import { sameStatus } from './conditions.ts';
import type { Kind } from './desired-state.ts';
import type { KubeObject } from './informer.ts';

export interface StatusApi {
  patchStatus(kind: Kind, namespace: string, name: string, status: Readonly<Record<string, unknown>>): Promise<void>;
}

export interface EventApi {
  /** Records a Warning Event about `obj`. */
  warning(kind: Kind, obj: KubeObject, reason: string, note: string): Promise<void>;
}

export type WriteResult = 'written' | 'unchanged' | 'not-leader';

export interface StatusWriterOptions {
  readonly status: StatusApi;
  readonly events: EventApi;
  readonly logger?: Logger;
}

export class StatusWriter {
  readonly #status: StatusApi;
  readonly #events: EventApi;
  readonly #log: Logger;
  #leader = false;
  /** `uid/generation/reason` of rejections already reported, so one rejection = one Event. */
  readonly #reported = new Set<string>();

  constructor(opts: StatusWriterOptions) {
    this.#status = opts.status;
    this.#events = opts.events;
    this.#log = (opts.logger ?? silentLogger).child({ component: 'status-writer' });
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  setLeader(leader: boolean): void {
    this.#leader = leader;
    // A new term reports afresh: the previous leader's Events may never have been written.
    if (!leader) this.#reported.clear();
  }

  /**
   * Writes `owned` (the status fields the controller owns) unless the cached object already has
   * them. Throws when the API call fails, so the work queue retries with backoff.
   */
  async write(kind: Kind, obj: KubeObject & { readonly status?: unknown }, owned: Readonly<Record<string, unknown>>): Promise<WriteResult> {
    if (!this.#leader) return 'not-leader';
    const current = (obj.status ?? {}) as Record<string, unknown>;
    const currentOwned = Object.fromEntries(Object.keys(owned).map((k) => [k, current[k]]));
    if (sameStatus(currentOwned, owned)) return 'unchanged';
    const { namespace, name } = obj.metadata ?? {};
    if (namespace === undefined || name === undefined) throw new TypeError('object without namespace/name');
    await this.#status.patchStatus(kind, namespace, name, owned);
    this.#log.debug('status written', { kind, namespace, name });
    return 'written';
  }

  /** Emits one Warning Event per rejected generation (leader only). Event failures are logged, not retried. */
  async rejected(kind: Kind, obj: KubeObject, reason: string, note: string): Promise<void> {
    if (!this.#leader) return;
    const key = `${obj.metadata?.uid ?? `${obj.metadata?.namespace}/${obj.metadata?.name}`}/${obj.metadata?.generation ?? 0}/${reason}`;
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    if (this.#reported.size > 10_000) this.#reported.clear();
    try {
      await this.#events.warning(kind, obj, reason, note);
    } catch (err) {
      this.#reported.delete(key);
      this.#log.warn('could not record event', { kind, name: obj.metadata?.name, error: err instanceof Error ? err.message : String(err) });
    }
  }
}
