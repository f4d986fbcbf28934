/**
 * The controller's side of policy distribution: `PolicyDistribution/Subscribe`.
 *
 * One stream per sidecar. The caller is authenticated from its projected service-account token
 * (see token-review.ts for why this and not mTLS); the namespace in the TokenReview's answer —
 * never anything the sidecar says in Hello — decides which bundle it gets. After Hello the stream
 * receives the namespace's current full bundle, then a new one whenever the desired state of that
 * namespace changes (coalesced: at most one per `coalesceMs`, ending with the latest). The server
 * tracks, per stream, what was sent, what was ACKed and the last NACK, and answers the two
 * questions the controller core puts into status: which workloads run what (`workloads()`) and
 * how many sidecars enforce a policy's current version (`enforcedBy()`).
 *
 * Every replica serves bundles (they all hold the same desired state); only the leader writes the
 * cold-start snapshot (snapshot.ts, fed through `onBundle`).
 */
import * as grpc from '@grpc/grpc-js';
import type { Clock } from '../../core/clock.ts';
import { systemClock } from '../../core/clock.ts';
import { BundleBook } from './bundles.ts';
import type { BuiltBundle, DesiredStateView } from './bundles.ts';
import { Coalescer, realScheduler } from './coalesce.ts';
import type { Scheduler } from './coalesce.ts';
import { StreamAuthenticator } from './token-review.ts';
import type { TokenReviewer, WorkloadIdentity } from './token-review.ts';
import { DISTRIBUTION_AUDIENCE, distributionService } from './wire.ts';
import type { Bundle, SubscribeRequest } from './wire.ts';

/** Logging the server needs (the project's Logger fits). Never given a token. */
export interface DistributionLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export interface DistributionServerOptions {
  /** "127.0.0.1:0", "0.0.0.0:9443", … */
  readonly address: string;
  readonly desired: DesiredStateView;
  readonly reviewer: TokenReviewer;
  /** Transport credentials; default insecure (loopback tests). In a cluster, use TLS: the stream carries a token. */
  readonly credentials?: grpc.ServerCredentials;
  readonly clock?: Clock;
  readonly scheduler?: Scheduler;
  readonly log?: DistributionLog;
  /** Minimum spacing of bundles per namespace. Default 50 ms. */
  readonly coalesceMs?: number;
  /** Concurrent streams across all sidecars. Default 2000. */
  readonly maxStreams?: number;
  /** Largest bundle sent. Default 16 MiB; a larger bundle is not sent (sidecars keep the last one). */
  readonly maxBundleBytes?: number;
  /** HTTP/2 keepalive ping period. Default 30 s. */
  readonly keepaliveMs?: number;
}

/** One connected sidecar, as `workloads()` reports it. */
export interface WorkloadStatus {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly pod: string;
  readonly fhirBasePath: string;
  readonly sentVersion: string | undefined;
  readonly sentHash: string | undefined;
  readonly ackedVersion: string | undefined;
  readonly ackedHash: string | undefined;
  /** Reason code of the last NACK since the last ACK, undefined when none. */
  readonly nackReason: string | undefined;
  readonly nackDetail: string | undefined;
  /** Unix ms. */
  readonly connectedSince: number;
}

interface Stream {
  readonly id: number;
  readonly identity: WorkloadIdentity;
  readonly call: grpc.ServerDuplexStream<SubscribeRequest, Bundle>;
  readonly connectedSince: number;
  hello: boolean;
  pod: string;
  fhirBasePath: string;
  sent: Array<{ version: string; hash: string }>;
  ackedVersion: string | undefined;
  ackedHash: string | undefined;
  nackReason: string | undefined;
  nackDetail: string | undefined;
  /** A newer bundle is waiting for the write buffer to drain. */
  blocked: boolean;
}

const REASON = /^[a-z][a-z0-9_]{0,63}$/;
const SENT_HISTORY = 4;

const statusError = (code: grpc.status, details: string): grpc.ServiceError =>
  Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });

export class DistributionServer {
  readonly #o: DistributionServerOptions;
  readonly #clock: Clock;
  readonly #server: grpc.Server;
  readonly #book: BundleBook;
  readonly #auth: StreamAuthenticator;
  readonly #coalescer: Coalescer;
  readonly #streams = new Map<number, Stream>();
  readonly #bundleListeners = new Set<(b: BuiltBundle) => void>();
  /** Hash last handed to bundle listeners, per namespace. */
  readonly #published = new Map<string, string>();
  readonly #statusListeners = new Set<(namespace: string) => void>();
  readonly #maxStreams: number;
  readonly #maxBundleBytes: number;
  #unsubscribe: (() => void) | undefined;
  #nextId = 1;
  #pendingAuth = 0;
  #stopped = false;

  constructor(o: DistributionServerOptions) {
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    this.#maxStreams = o.maxStreams ?? 2000;
    this.#maxBundleBytes = o.maxBundleBytes ?? 16 * 1024 * 1024;
    this.#book = new BundleBook(o.desired, this.#clock);
    this.#auth = new StreamAuthenticator({ reviewer: o.reviewer, audience: DISTRIBUTION_AUDIENCE, clock: this.#clock });
    this.#coalescer = new Coalescer(o.coalesceMs ?? 50, this.#clock, o.scheduler ?? realScheduler, (ns) => this.#flush(ns));
    const keepalive = o.keepaliveMs ?? 30_000;
    this.#server = new grpc.Server({
      // Sidecars send only Hello/Ack/Nack: small.
      'grpc.max_receive_message_length': 64 * 1024,
      'grpc.max_send_message_length': this.#maxBundleBytes + 1024,
      'grpc.keepalive_time_ms': keepalive,
      'grpc.keepalive_timeout_ms': Math.min(20_000, keepalive),
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': Math.min(10_000, keepalive),
    });
    this.#server.addService(distributionService(), {
      Subscribe: (call: grpc.ServerDuplexStream<SubscribeRequest, Bundle>) => void this.#subscribe(call),
    });
  }

  /** Binds and starts watching the desired state; resolves with the bound "host:port". */
  async start(): Promise<string> {
    const port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(this.#o.address, this.#o.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) =>
        err === null ? resolve(p) : reject(err),
      );
    });
    this.#unsubscribe = this.#o.desired.onChange((ns) => this.#coalescer.poke(ns));
    const host = this.#o.address.slice(0, this.#o.address.lastIndexOf(':'));
    return `${host}:${port}`;
  }

  /** Ends every stream (sidecars keep their bundles and reconnect elsewhere) and stops. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#coalescer.close();
    for (const s of this.#streams.values()) s.call.end();
    this.#streams.clear();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Called with every newly built bundle (content changed) — the snapshot writer listens here. */
  onBundle(listener: (b: BuiltBundle) => void): () => void {
    this.#bundleListeners.add(listener);
    return () => this.#bundleListeners.delete(listener);
  }

  /** Called with the namespace whenever a workload connects, disconnects, ACKs or NACKs. */
  onStatusChange(listener: (namespace: string) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  /** The latest bundle of a namespace (built on demand). */
  bundleFor(namespace: string): BuiltBundle {
    return this.#book.current(namespace);
  }

  /** Every connected sidecar that has said Hello. */
  workloads(): WorkloadStatus[] {
    return [...this.#streams.values()]
      .filter((s) => s.hello)
      .map((s) => ({
        namespace: s.identity.namespace,
        serviceAccount: s.identity.serviceAccount,
        pod: s.pod,
        fhirBasePath: s.fhirBasePath,
        sentVersion: s.sent.at(-1)?.version,
        sentHash: s.sent.at(-1)?.hash,
        ackedVersion: s.ackedVersion,
        ackedHash: s.ackedHash,
        nackReason: s.nackReason,
        nackDetail: s.nackDetail,
        connectedSince: s.connectedSince,
      }));
  }

  /**
   * Of the sidecars connected in `namespace`, how many run a bundle (by their last ACK) that
   * contains policy `policyName` with compiled hash `policyHash` (CompiledPolicy.hash).
   *
   * With `fhirBasePath`, only sidecars guarding that base path count (trailing slashes ignored),
   * plus those that named none in Hello (they enforce the bundle's only policy, whichever it is).
   */
  enforcedBy(namespace: string, policyName: string, policyHash: string, fhirBasePath?: string): { current: number; total: number } {
    let current = 0;
    let total = 0;
    const base = fhirBasePath === undefined ? undefined : normalizeBasePath(fhirBasePath);
    for (const s of this.#streams.values()) {
      if (!s.hello || s.identity.namespace !== namespace) continue;
      if (base !== undefined && s.fhirBasePath !== '' && normalizeBasePath(s.fhirBasePath) !== base) continue;
      total++;
      if (s.ackedHash === undefined) continue;
      const acked = this.#book.byHash(namespace, s.ackedHash);
      if (acked?.policies.get(policyName) === policyHash) current++;
    }
    return { current, total };
  }

  async #subscribe(call: grpc.ServerDuplexStream<SubscribeRequest, Bundle>): Promise<void> {
    if (this.#stopped || this.#streams.size + this.#pendingAuth >= this.#maxStreams) {
      call.emit('error', statusError(grpc.status.RESOURCE_EXHAUSTED, 'too many subscribers'));
      return;
    }
    this.#pendingAuth++;
    let identity: WorkloadIdentity | undefined;
    try {
      identity = await this.#auth.authenticate(call.metadata.get('authorization'));
    } finally {
      this.#pendingAuth--;
    }
    if (identity === undefined || this.#stopped || call.cancelled) {
      // No bundle, no hint about why: the token's details stay with the API server.
      if (identity === undefined) this.#o.log?.warn('distribution: unauthenticated subscriber', { peer: call.getPeer() });
      call.emit('error', statusError(grpc.status.UNAUTHENTICATED, 'a valid service-account token is required'));
      return;
    }
    const s: Stream = {
      id: this.#nextId++,
      identity,
      call,
      connectedSince: this.#clock.now(),
      hello: false,
      pod: '',
      fhirBasePath: '',
      sent: [],
      ackedVersion: undefined,
      ackedHash: undefined,
      nackReason: undefined,
      nackDetail: undefined,
      blocked: false,
    };
    this.#streams.set(s.id, s);
    const gone = () => {
      if (!this.#streams.delete(s.id)) return;
      this.#notify(identity.namespace);
    };
    call.on('data', (m: SubscribeRequest) => this.#onMessage(s, m));
    call.on('end', () => {
      gone();
      call.end();
    });
    call.on('error', gone);
    call.on('cancelled', gone);
    call.on('close', gone);
    call.on('drain', () => {
      if (!s.blocked) return;
      s.blocked = false;
      this.#send(s, this.#book.current(identity.namespace));
    });
  }

  #onMessage(s: Stream, m: SubscribeRequest): void {
    const ns = s.identity.namespace;
    if (m.kind === 'hello' && m.hello !== undefined) {
      if (s.hello) return;
      s.hello = true;
      s.pod = boundedText(m.hello.pod, 253);
      s.fhirBasePath = boundedText(m.hello.fhir_base_path, 256);
      this.#o.log?.info('distribution: sidecar subscribed', { namespace: ns, serviceAccount: s.identity.serviceAccount, pod: s.pod });
      // Fresh from the desired state: a trailing coalesced flush may still be pending.
      this.#send(s, this.#book.rebuild(ns).built);
      this.#notify(ns);
      return;
    }
    if (m.kind === 'ack' && m.ack !== undefined) {
      const sent = s.sent.find((x) => x.hash === m.ack?.hash && x.version === m.ack.version);
      if (sent === undefined) return; // only what this stream was sent can be ACKed
      s.ackedVersion = sent.version;
      s.ackedHash = sent.hash;
      s.nackReason = undefined;
      s.nackDetail = undefined;
      this.#notify(ns);
      return;
    }
    if (m.kind === 'nack' && m.nack !== undefined) {
      const sent = s.sent.find((x) => x.hash === m.nack?.hash && x.version === m.nack.version);
      if (sent === undefined) return;
      const reason = m.nack.reason ?? '';
      s.nackReason = REASON.test(reason) ? reason : 'unknown';
      s.nackDetail = boundedText(m.nack.detail, 512);
      this.#o.log?.warn('distribution: bundle rejected by sidecar', {
        namespace: ns,
        pod: s.pod,
        version: sent.version,
        reason: s.nackReason,
        detail: s.nackDetail,
      });
      this.#notify(ns);
    }
  }

  /** A namespace's desired state changed (coalesced): rebuild and push where it differs. */
  #flush(namespace: string): void {
    if (this.#stopped) return;
    const { built } = this.#book.rebuild(namespace);
    // Streams get it unless they already have it (a Hello may have built it first).
    for (const s of this.#streams.values()) if (s.hello && s.identity.namespace === namespace) this.#send(s, built);
    if (this.#published.get(namespace) === built.bundle.hash) return;
    this.#published.set(namespace, built.bundle.hash);
    for (const l of this.#bundleListeners) {
      try {
        l(built);
      } catch {
        // a listener's failure must not stop distribution
      }
    }
  }

  #send(s: Stream, built: BuiltBundle): void {
    const b = built.bundle;
    if (s.sent.at(-1)?.hash === b.hash) return;
    if (s.blocked) return; // the drain handler sends the latest
    if (b.content.length > this.#maxBundleBytes) {
      this.#o.log?.warn('distribution: bundle too large to send', { namespace: built.namespace, bytes: b.content.length });
      return;
    }
    s.sent.push({ version: b.version, hash: b.hash });
    if (s.sent.length > SENT_HISTORY) s.sent.shift();
    if (!s.call.write(b)) s.blocked = true;
  }

  #notify(namespace: string): void {
    for (const l of this.#statusListeners) {
      try {
        l(namespace);
      } catch {
        // status listeners must not break the stream
      }
    }
  }
}

/** `/fhir/` and `/fhir` are one base path; `/` stays `/`. */
function normalizeBasePath(p: string): string {
  return p.replace(/\/+$/, '') || '/';
}

/** Free text from the wire, cut to a bound and stripped of control characters. */
function boundedText(v: string | undefined, max: number): string {
  return (v ?? '').slice(0, max).replace(/[\u0000-\u001f\u007f]/g, '');
}
