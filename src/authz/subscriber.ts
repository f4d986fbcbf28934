/**
 * The sidecar's side of policy distribution: one long-lived Subscribe stream to
 * fhirgate-controller, carrying this pod's projected service-account token.
 *
 *   connect (token re-read from its file every time: the kubelet rotates it) → Hello
 *   → Bundle → verify hash → validate strictly (bundle-apply.ts) → swap atomically → Ack
 *                                       └─ anything wrong → keep the last good bundle → Nack
 *
 * Fail closed, always:
 *  - before the first bundle (from the stream or a hash-verified cold-start snapshot) the sidecar
 *    is not Ready and every check is denied with `policy_unavailable`;
 *  - a bundle without a policy for this base path is applied (it is a valid state: the policy was
 *    deleted) and every check is denied with `policy_unavailable` — never allow-all;
 *  - when the controller is gone the sidecar keeps enforcing its last good bundle indefinitely and
 *    reconnects with capped exponential backoff plus jitter (so a controller restart does not see
 *    every sidecar at the same instant).
 *
 * When a bundle changes the issuer set, a new Authenticator is built and started (first JWKS
 * fetch) while the old one keeps answering; the policy, authenticator and revocations are then
 * swapped in one synchronous step, so no request sees a policy from one bundle with issuers from
 * another. When only revocations change, they are set on the running Authenticator (cached tokens
 * are re-checked on their next use).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import type { HttpRequest } from '../core/http.ts';
import type { Bundle, NackReason, SubscribeRequest } from '../controller/distribution/wire.ts';
import { distributionClient } from '../controller/distribution/wire.ts';
import { readSnapshot } from '../controller/distribution/snapshot.ts';
import type { Authorizer } from '../policy/authorizer.ts';
import { Authenticator } from '../token/authenticator.ts';
import type { AuthenticatorDeps } from '../token/authenticator.ts';
import type { LogFields } from '../telemetry/logger.ts';
import { prepareBundle } from './bundle-apply.ts';
import type { PreparedBundle, RawBundle } from './bundle-apply.ts';
import type { MaybePromise } from '../core/maybe-async.ts';

/** The `controller` section of the sidecar config. */
export interface ControllerConfig {
  /** "127.0.0.1:PORT" or "dns:///fhirgate-controller.fhirgate-system.svc:9443". */
  readonly address: string;
  /** Projected service-account token (audience fhirgate-controller), re-read on each connect. */
  readonly tokenFile: string;
  /** The mounted snapshot ConfigMap's `bundle.json` (siblings `hash` and `version`). */
  readonly snapshotFile?: string;
  /** The FHIR base path this sidecar guards; selects the policy. Omitted: the bundle's only policy. */
  readonly fhirBasePath?: string;
  /** Pod name for the controller's status; default the host name (= pod name in Kubernetes). */
  readonly pod?: string;
  /** PEM CA bundle to verify the controller's TLS certificate; omitted = plaintext (loopback only). */
  readonly caFile?: string;
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
}

export interface SubscriberLog {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export type SubscriberEvent =
  | { readonly type: 'applied'; readonly source: 'stream' | 'snapshot'; readonly version: string; readonly hash: string; readonly policy: string | undefined }
  | { readonly type: 'rejected'; readonly source: 'stream' | 'snapshot'; readonly version: string; readonly hash: string; readonly reason: string; readonly detail: string }
  | { readonly type: 'connected' }
  | { readonly type: 'disconnected'; readonly code: number | undefined };

export interface SubscriberOptions {
  readonly config: ControllerConfig;
  readonly log: SubscriberLog;
  /** Passed to every Authenticator built from a bundle (fetch, clock, token events). */
  readonly authenticatorDeps?: AuthenticatorDeps;
  /** Jitter source; default Math.random. */
  readonly random?: () => number;
  readonly sidecarVersion?: string;
}

type AuthnResult = Awaited<ReturnType<Authenticator['authenticate']>>;

const MAX_TOKEN_FILE_BYTES = 16 * 1024;

export class Subscriber {
  readonly #cfg: ControllerConfig;
  readonly #log: SubscriberLog;
  readonly #deps: AuthenticatorDeps;
  readonly #random: () => number;
  readonly #version: string;
  readonly #listeners = new Set<(e: SubscriberEvent) => void>();
  #client: grpc.Client | undefined;
  #call: grpc.ClientDuplexStream<SubscribeRequest, Bundle> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #stopped = false;
  // What is enforced now (swapped together).
  #applied: { version: string; hash: string } | undefined;
  #engine: Authorizer | undefined;
  #authn: Authenticator | undefined;
  #issuersKey = '';
  // Apply queue: only the newest waiting bundle matters (bundles are full, not deltas).
  #pending: { raw: RawBundle; call: grpc.ClientDuplexStream<SubscribeRequest, Bundle> } | undefined;
  #applying = false;

  constructor(o: SubscriberOptions) {
    this.#cfg = o.config;
    this.#log = o.log;
    this.#deps = o.authenticatorDeps ?? {};
    this.#random = o.random ?? Math.random;
    this.#version = o.sidecarVersion ?? 'dev';
  }

  /** The policy to enforce now; undefined → the pipeline denies with policy_unavailable. */
  authorizer(): Authorizer | undefined {
    return this.#engine;
  }

  /** The authenticate phase, delegated to the Authenticator of the applied bundle. */
  authenticate(req: HttpRequest): MaybePromise<AuthnResult> {
    const authn = this.#authn;
    if (authn !== undefined) return authn.authenticate(req);
    // No issuer in the applied bundle: nobody can be authenticated.
    return { ok: false, reason: this.#applied === undefined ? 'policy_unavailable' : 'token_issuer_unknown' };
  }

  /** Ready once a bundle was applied and the issuers it names have usable keys. */
  ready(): boolean {
    return !this.#stopped && this.#applied !== undefined && (this.#authn === undefined || this.#authn.ready());
  }

  /** The applied bundle's version and hash. */
  current(): { version: string; hash: string } | undefined {
    return this.#applied;
  }

  onEvent(listener: (e: SubscriberEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Loads the snapshot (if configured and valid), then connects in the background. */
  async start(): Promise<void> {
    if (this.#cfg.snapshotFile !== undefined) await this.#loadSnapshot(this.#cfg.snapshotFile);
    const Client = distributionClient();
    const creds =
      this.#cfg.caFile === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(readFileSync(this.#cfg.caFile));
    this.#client = new Client(this.#cfg.address, creds, {
      'grpc.max_receive_message_length': 16 * 1024 * 1024 + 1024,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 1,
    });
    this.#connect();
  }

  /** Stops reconnecting and closes the stream; the applied bundle stays readable until then. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#call?.cancel();
    this.#call = undefined;
    this.#client?.close();
    this.#authn?.close();
  }

  #emit(e: SubscriberEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch {
        // observers cannot break distribution
      }
    }
  }

  async #loadSnapshot(file: string): Promise<void> {
    const r = readSnapshot(file);
    if (!r.ok) {
      this.#log.warn('controller snapshot not used', { file, reason: r.reason });
      this.#emit({ type: 'rejected', source: 'snapshot', version: '', hash: '', reason: r.reason, detail: 'snapshot file' });
      return;
    }
    await this.#applyOne(r.bundle, 'snapshot', undefined);
  }

  #connect(): void {
    if (this.#stopped || this.#client === undefined) return;
    let token: string;
    try {
      const raw = readFileSync(this.#cfg.tokenFile);
      token = raw.length > MAX_TOKEN_FILE_BYTES ? '' : raw.toString('utf8').trim();
    } catch {
      token = '';
    }
    if (!/^[A-Za-z0-9._~+/=-]+$/.test(token)) {
      this.#log.warn('controller token file unreadable or empty; retrying', { file: this.#cfg.tokenFile });
      this.#scheduleReconnect();
      return;
    }
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    const method = (this.#client as unknown as Record<string, (m: grpc.Metadata) => grpc.ClientDuplexStream<SubscribeRequest, Bundle>>)['Subscribe'];
    const call = method!.call(this.#client, md);
    this.#call = call;
    call.on('data', (b: Bundle) => {
      if (this.#call !== call) return;
      this.#attempt = 0; // the controller accepted us: the next outage starts from a short delay
      this.#enqueue({ version: String(b.version ?? ''), hash: String(b.hash ?? ''), content: b.content ?? Buffer.alloc(0) }, call);
    });
    call.on('error', (err: grpc.ServiceError) => this.#lost(call, err.code));
    call.on('end', () => this.#lost(call, undefined));
    const hello: SubscribeRequest = {
      hello: {
        pod: this.#cfg.pod ?? hostname(),
        fhir_base_path: this.#cfg.fhirBasePath ?? '',
        sidecar_version: this.#version,
        current_version: this.#applied?.version ?? '',
        current_hash: this.#applied?.hash ?? '',
      },
    };
    call.write(hello);
    this.#emit({ type: 'connected' });
  }

  #lost(call: grpc.ClientDuplexStream<SubscribeRequest, Bundle>, code: number | undefined): void {
    if (this.#call !== call) return;
    this.#call = undefined;
    call.end();
    if (this.#stopped) return;
    this.#log.warn('controller stream lost; enforcing the last good bundle', { code, version: this.#applied?.version });
    this.#emit({ type: 'disconnected', code });
    this.#scheduleReconnect();
  }

  /** Capped exponential backoff with "equal jitter": between half and all of the capped delay. */
  #scheduleReconnect(): void {
    if (this.#stopped) return;
    const initial = this.#cfg.backoff?.initialMs ?? 500;
    const max = this.#cfg.backoff?.maxMs ?? 30_000;
    const cap = Math.min(max, initial * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    const delay = Math.round(cap / 2 + this.#random() * (cap / 2));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#connect();
    }, delay);
  }

  #enqueue(raw: RawBundle, call: grpc.ClientDuplexStream<SubscribeRequest, Bundle>): void {
    this.#pending = { raw, call };
    if (this.#applying) return;
    void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#applying = true;
    try {
      while (this.#pending !== undefined && !this.#stopped) {
        const { raw, call } = this.#pending;
        this.#pending = undefined;
        await this.#applyOne(raw, 'stream', call);
      }
    } finally {
      this.#applying = false;
    }
  }

  async #applyOne(raw: RawBundle, source: 'stream' | 'snapshot', call: grpc.ClientDuplexStream<SubscribeRequest, Bundle> | undefined): Promise<void> {
    const reply = (m: SubscribeRequest) => {
      if (call !== undefined && this.#call === call) call.write(m);
    };
    if (this.#applied?.hash === raw.hash && /^[0-9]{1,20}$/.test(raw.version)) {
      // Same content (maybe numbered by another replica): nothing to re-apply.
      this.#applied = { version: raw.version, hash: raw.hash };
      reply({ ack: { version: raw.version, hash: raw.hash } });
      return;
    }
    const prepared = prepareBundle(raw, this.#cfg.fhirBasePath);
    if (!prepared.ok) {
      this.#reject(raw, source, prepared.reason, prepared.detail, reply);
      return;
    }
    const b = prepared.bundle;
    let swapAuthn = false;
    let next: Authenticator | undefined;
    if (b.issuersKey !== this.#issuersKey) {
      swapAuthn = true;
      if (b.tokenConfig !== undefined) {
        try {
          next = new Authenticator(b.tokenConfig, this.#deps);
        } catch (err) {
          this.#reject(raw, source, 'issuer_invalid', (err as Error).message, reply);
          return;
        }
        await next.start(); // never throws; keys may still be missing (then: not Ready, 503s)
      }
    }
    if (this.#stopped) {
      next?.close();
      return;
    }
    try {
      b.engine?.warmUp();
    } catch (err) {
      next?.close();
      this.#reject(raw, source, 'internal_error', (err as Error).message, reply);
      return;
    }
    this.#swap(b, swapAuthn, next);
    this.#log.info('policy bundle applied', { source, version: b.version, policy: b.engine?.id ?? null });
    this.#emit({ type: 'applied', source, version: b.version, hash: b.hash, policy: b.engine?.id });
    reply({ ack: { version: b.version, hash: b.hash } });
  }

  /** One synchronous step: no request can observe a mix of two bundles. */
  #swap(b: PreparedBundle, swapAuthn: boolean, next: Authenticator | undefined): void {
    if (swapAuthn) {
      const old = this.#authn;
      this.#authn = next;
      this.#issuersKey = b.issuersKey;
      old?.close();
    } else {
      this.#authn?.setRevocations(b.revocations);
    }
    this.#engine = b.engine;
    this.#applied = { version: b.version, hash: b.hash };
  }

  #reject(raw: RawBundle, source: 'stream' | 'snapshot', reason: NackReason, detail: string, reply: (m: SubscribeRequest) => void): void {
    this.#log.warn('policy bundle rejected; keeping the last good bundle', {
      source,
      version: raw.version,
      reason,
      detail,
      enforcing: this.#applied?.version ?? null,
    });
    this.#emit({ type: 'rejected', source, version: raw.version, hash: raw.hash, reason, detail });
    reply({ nack: { version: raw.version, hash: raw.hash, reason, detail } });
  }
}
