/**
 * fhirgate-controller, composed: the Controller core (informers → queue → reconcilers → desired
 * state + status), the DistributionServer every sidecar subscribes to, and the SnapshotWriter the
 * leader uses for cold starts. This file owns only what ties them together:
 *
 * - **Ready means enforced.** A FhirAccessPolicy is Ready when it is accepted AND every connected
 *   sidecar of its namespace that guards its base path has ACKed a bundle holding its current
 *   compiled hash. `status.enforcedBy {current,total}` is written with the same numbers, so the
 *   ENFORCED column and the READY column never disagree. Reasons:
 *     `Enforced`    every such sidecar runs the current version (current = total > 0);
 *     `Propagating` some have not ACKed it yet (Ready=False);
 *     `Rejected`    a sidecar NACKed the bundle (Ready=False; the message names the NACK reason);
 *     `NoWorkloads` no sidecar guarding the base path is connected (Ready=True, ENFORCED 0/0).
 *   Why True with no workloads: Ready answers "is anything still pending for this object?", and
 *   with no workload nothing is. A policy is normally applied before the Deployment it protects
 *   (GitOps tools apply in that order and `kubectl wait --for=condition=Ready` would otherwise
 *   hang); False would read as "broken" to someone who has done nothing wrong. Nothing is opened
 *   by it either: a sidecar that connects later gets the current bundle before it is Ready
 *   itself, and the policy drops to Propagating until that sidecar ACKs. The 0/0 in the ENFORCED
 *   and WORKLOADS columns says plainly that nobody enforces it yet.
 *
 * - **ACKs refresh status.** Every connect, disconnect, ACK or NACK re-queues the namespace's
 *   policies, coalesced per namespace (leading + trailing edge), so a rollout of many sidecars
 *   costs a bounded number of reconciles; unchanged status is not written again.
 *
 * - **Serve only a complete desired state.** The gRPC listener opens once every informer has
 *   listed AND the work queue has reconciled what the listing queued. A sidecar reconnecting to a
 *   freshly restarted controller must never receive a partial bundle: a missing revocation would
 *   let a revoked token back in, a missing policy would deny everything for a moment.
 *
 * - **Snapshots from the leader, of complete state.** Every new bundle goes to the SnapshotWriter
 *   (a no-op on followers); on winning the Lease, and when serving starts, the leader writes the
 *   current bundle of every namespace it knows, so a snapshot missed during a leader change is
 *   caught up.
 */
import type { ServerCredentials } from '@grpc/grpc-js';
import { AuthenticationV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { systemClock } from '../core/clock.ts';
import { compiledPolicyHash } from './distribution/bundles.ts';
import type { FhirAccessPolicyDocument } from '../policy/spec.ts';
import type { Logger } from '../telemetry/logger.ts';
import { silentLogger } from '../telemetry/logger.ts';
import type { BackoffPolicy } from './backoff.ts';
import { Controller } from './controller.ts';
import type { ControllerApis } from './controller.ts';
import { DesiredState } from './desired-state.ts';
import type { Kind } from './desired-state.ts';
import { Coalescer, realScheduler } from './distribution/coalesce.ts';
import { DistributionServer } from './distribution/server.ts';
import type { WorkloadStatus } from './distribution/server.ts';
import { SnapshotWriter, kubeConfigMapApi } from './distribution/snapshot.ts';
import type { ConfigMapApi } from './distribution/snapshot.ts';
import { KubeTokenReviewer } from './distribution/token-review.ts';
import type { TokenReviewer } from './distribution/token-review.ts';
import { kubeControllerApis } from './kube-apis.ts';
import { readyWhenAccepted } from './readiness.ts';
import type { Readiness } from './readiness.ts';

/** What the runtime needs from outside; `kubeRuntimeDeps` builds it from a kubeconfig. */
export interface RuntimeDeps {
  readonly apis: ControllerApis;
  readonly reviewer: TokenReviewer;
  readonly configMaps: ConfigMapApi;
}

export interface ControllerRuntimeOptions {
  readonly deps: RuntimeDeps;
  readonly identity: string;
  /** gRPC PolicyDistribution listen address, e.g. "0.0.0.0:9443" or "127.0.0.1:0". */
  readonly grpcListen: string;
  /** Transport credentials of the distribution listener; default plaintext (loopback/tests only). */
  readonly grpcCredentials?: ServerCredentials;
  readonly workers?: number;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly informerBackoff?: BackoffPolicy;
  readonly queueBackoff?: BackoffPolicy;
  /** Spacing of status refreshes per namespace after ACK/NACK/connect changes. Default 200 ms. */
  readonly statusRefreshMs?: number;
  /** Spacing of bundles per namespace (DistributionServer). Default 50 ms. */
  readonly bundleCoalesceMs?: number;
  /** How often to check whether the desired state is complete before serving. Default 100 ms. */
  readonly settlePollMs?: number;
  readonly defaultMetrics?: boolean;
  readonly logger?: Logger;
}

/** The API-server-backed dependencies: CRD informers, status, Events, Lease, TokenReview, ConfigMaps. */
export function kubeRuntimeDeps(kc: KubeConfig, opts: { leaseNamespace: string; identity: string; watchTimeoutSeconds?: number }): RuntimeDeps {
  return {
    apis: kubeControllerApis(kc, opts),
    reviewer: new KubeTokenReviewer(kc.makeApiClient(AuthenticationV1Api)),
    configMaps: kubeConfigMapApi(kc.makeApiClient(CoreV1Api)),
  };
}

/** `/fhir/` and `/fhir` are one base path. */
const normalizeBase = (p: string): string => p.replace(/\/+$/, '') || '/';

/**
 * The Ready answer for an accepted policy, from the sidecars that guard its base path: pure, so
 * the rule in the module comment is tested without a cluster.
 */
export function policyReadiness(
  basePath: string,
  enforced: { readonly current: number; readonly total: number },
  nacks: readonly { readonly pod: string; readonly reason: string }[],
): Readiness {
  const status = { enforcedBy: { current: enforced.current, total: enforced.total } };
  if (nacks.length > 0) {
    const first = nacks[0]!;
    return {
      ready: false,
      reason: 'Rejected',
      message: `${nacks.length} workload(s) guarding ${basePath} rejected the current bundle (e.g. pod ${first.pod || '?'}: ${first.reason}); they keep enforcing their last good bundle.`,
      status,
    };
  }
  if (enforced.total === 0) {
    return {
      ready: true,
      reason: 'NoWorkloads',
      message: `Accepted; no sidecar guarding ${basePath} is connected in this namespace, so none enforces it yet. A sidecar that connects receives it before it becomes Ready.`,
      status,
    };
  }
  if (enforced.current === enforced.total) {
    return { ready: true, reason: 'Enforced', message: `All ${enforced.total} workload(s) guarding ${basePath} run the current version.`, status };
  }
  return {
    ready: false,
    reason: 'Propagating',
    message: `${enforced.current} of ${enforced.total} workload(s) guarding ${basePath} run the current version; waiting for the others to acknowledge it.`,
    status,
  };
}

export class ControllerRuntime {
  readonly controller: Controller;
  readonly distribution: DistributionServer;
  readonly desired: DesiredState;
  readonly #snapshots: SnapshotWriter;
  readonly #o: ControllerRuntimeOptions;
  readonly #log: Logger;
  readonly #statusRefresh: Coalescer;
  /** Compiled hash per accepted document object (the desired state replaces objects on change). */
  #address: string | undefined;
  #serving = false;
  #stopped = false;
  #settleTimer: NodeJS.Timeout | undefined;
  #servingStarted: Promise<string> | undefined;

  constructor(o: ControllerRuntimeOptions) {
    this.#o = o;
    this.#log = (o.logger ?? silentLogger).child({ component: 'runtime' });
    this.desired = new DesiredState();
    this.distribution = new DistributionServer({
      address: o.grpcListen,
      desired: this.desired,
      reviewer: o.deps.reviewer,
      log: this.#log,
      ...(o.grpcCredentials !== undefined ? { credentials: o.grpcCredentials } : {}),
      ...(o.bundleCoalesceMs !== undefined ? { coalesceMs: o.bundleCoalesceMs } : {}),
    });
    this.controller = new Controller({
      apis: o.deps.apis,
      identity: o.identity,
      desired: this.desired,
      readyFor: (kind, ns, name) => this.#readyFor(kind, ns, name),
      onLeadershipChange: (leader) => {
        if (leader) this.#writeAllSnapshots();
      },
      logger: o.logger ?? silentLogger,
      ...(o.workers !== undefined ? { workers: o.workers } : {}),
      ...(o.leaseDurationMs !== undefined ? { leaseDurationMs: o.leaseDurationMs } : {}),
      ...(o.renewDeadlineMs !== undefined ? { renewDeadlineMs: o.renewDeadlineMs } : {}),
      ...(o.retryPeriodMs !== undefined ? { retryPeriodMs: o.retryPeriodMs } : {}),
      ...(o.informerBackoff !== undefined ? { informerBackoff: o.informerBackoff } : {}),
      ...(o.queueBackoff !== undefined ? { queueBackoff: o.queueBackoff } : {}),
      ...(o.defaultMetrics !== undefined ? { defaultMetrics: o.defaultMetrics } : {}),
    });
    this.#snapshots = new SnapshotWriter({ api: o.deps.configMaps, isLeader: () => this.controller.isLeader, log: this.#log });
    this.distribution.onBundle((b) => void this.#snapshots.write(b));
    this.#statusRefresh = new Coalescer(o.statusRefreshMs ?? 200, systemClock, realScheduler, (ns) => this.#refreshNamespace(ns));
    this.distribution.onStatusChange((ns) => this.#statusRefresh.poke(ns));
  }

  /** The bound distribution address once serving ("host:port"), else undefined. */
  get address(): string | undefined {
    return this.#address;
  }

  /** Ready to serve sidecars: the desired state is complete and the gRPC listener is open. */
  ready(): boolean {
    return this.#serving && !this.#stopped;
  }

  /**
   * Starts the controller at once and the distribution listener once the desired state is
   * complete. Resolves with the bound distribution address when serving; rejects if binding
   * fails or the runtime is stopped first.
   */
  start(): Promise<string> {
    if (this.#servingStarted !== undefined) throw new TypeError('runtime already started');
    this.controller.start();
    this.#servingStarted = new Promise<string>((resolve, reject) => {
      const poll = (): void => {
        this.#settleTimer = undefined;
        if (this.#stopped) {
          reject(new Error('stopped before the desired state was complete'));
          return;
        }
        if (!this.controller.hasSettled()) {
          this.#settleTimer = setTimeout(poll, this.#o.settlePollMs ?? 100);
          return;
        }
        this.distribution.start().then(
          (address) => {
            this.#address = address;
            this.#serving = true;
            this.#log.info('policy distribution serving', { address });
            this.#writeAllSnapshots();
            resolve(address);
          },
          (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))),
        );
      };
      poll();
    });
    return this.#servingStarted;
  }

  /** Graceful: streams end (sidecars keep their bundles), the queue drains, the Lease is released. */
  async stop(opts: { release: boolean } = { release: true }): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#settleTimer !== undefined) clearTimeout(this.#settleTimer);
    this.#servingStarted?.catch(() => {});
    this.#statusRefresh.close();
    await this.distribution.stop();
    this.#snapshots.close();
    await this.controller.stop(opts);
  }

  #readyFor(kind: Kind, ns: string, name: string): Readiness {
    if (kind !== 'FhirAccessPolicy') return readyWhenAccepted(kind, ns, name);
    const doc = this.desired.get('FhirAccessPolicy', ns, name) as FhirAccessPolicyDocument | undefined;
    if (doc === undefined) return readyWhenAccepted(kind, ns, name);
    const hash = this.#hashOf(doc);
    const base = normalizeBase(String(doc.spec.fhirBasePath ?? '/'));
    if (hash === undefined) return { ready: false, reason: 'InternalError', message: 'The accepted spec no longer compiles in this controller.' };
    const enforced = this.distribution.enforcedBy(ns, name, hash, base);
    // A NACK is cleared by the stream's next ACK, so any NACK on record is still unresolved.
    // (Not `bundleFor()` here: it caches a bundle, and before serving starts nothing refreshes
    // that cache — the first snapshot would then be built from a desired state half-reconciled.)
    const nacks = this.distribution
      .workloads()
      .filter((w) => guards(w, ns, base) && w.nackReason !== undefined)
      .map((w) => ({ pod: w.pod, reason: w.nackReason ?? 'unknown' }));
    return policyReadiness(base, enforced, nacks);
  }

  #hashOf(doc: FhirAccessPolicyDocument): string | undefined {
    return compiledPolicyHash(doc) ?? undefined;
  }

  /** Re-queues every policy of the namespace (accepted or not: a kept last-good spec has status too). */
  #refreshNamespace(ns: string): void {
    if (this.#stopped) return;
    for (const o of this.controller.informer('FhirAccessPolicy').list()) {
      const name = o.metadata?.name;
      if (o.metadata?.namespace === ns && name !== undefined) this.controller.refresh('FhirAccessPolicy', ns, name);
    }
  }

  #writeAllSnapshots(): void {
    // Before serving, the desired state may be partial: never snapshot that.
    if (!this.#serving || this.#stopped || !this.controller.isLeader) return;
    for (const ns of this.desired.namespaces()) void this.#snapshots.write(this.distribution.bundleFor(ns));
  }
}

function guards(w: WorkloadStatus, ns: string, base: string): boolean {
  return w.namespace === ns && (w.fhirBasePath === '' || normalizeBase(w.fhirBasePath) === base);
}
