/**
 * The fhirgate-authz composition root: wires config → token layer, policy, pipeline, record
 * phase, gRPC and HTTP servers, and stops them in the right order. `cmd/fhirgate-authz.ts` only
 * parses arguments and calls this; tests and benchmarks start the same object in-process.
 */
import { writeFileSync, renameSync } from 'node:fs';
import type { AuthzConfig } from './config.ts';
import { AuthzGrpcServer } from './grpc-server.ts';
import { HttpEndpoints } from './http-server.ts';
import { CheckPipeline } from './pipeline.ts';
import { createRecorder } from './record.ts';
import { InstanceVerifier } from './verify.ts';
import { Subscriber } from './subscriber.ts';
import type { Recorder } from './record.ts';
import { Authenticator } from '../token/authenticator.ts';
import { compilePolicy } from '../policy/compile.ts';
import { PolicyEngine } from '../policy/engine.ts';
import { loadPolicyFile } from '../policy/load.ts';
import type { Logger } from '../telemetry/logger.ts';

export interface SidecarOptions {
  readonly config: AuthzConfig;
  readonly logger: Logger;
  /** Injected fetch for the token layer (tests); default global fetch. */
  readonly fetch?: typeof fetch;
}

export class Sidecar {
  readonly #cfg: AuthzConfig;
  readonly #log: Logger;
  /** File mode: the one Authenticator from `auth`. Controller mode: undefined (the subscriber's). */
  readonly #authn: Authenticator | undefined;
  /** Controller mode: policy, issuers, clients and revocations come from bundles. */
  readonly #subscriber: Subscriber | undefined;
  readonly #recorder: Recorder;
  readonly #grpc: AuthzGrpcServer;
  readonly #http: HttpEndpoints;
  readonly #policy: PolicyEngine | undefined;
  readonly #pipeline: CheckPipeline;
  #stopping = false;

  /** Builds every part; nothing listens until start(). */
  static async create(opts: SidecarOptions): Promise<Sidecar> {
    return new Sidecar(opts, await createRecorder({ config: opts.config, logger: opts.logger }));
  }

  private constructor(opts: SidecarOptions, recorder: Recorder) {
    this.#cfg = opts.config;
    this.#log = opts.logger;
    this.#recorder = recorder;
    const authnDeps = { ...(opts.fetch !== undefined ? { fetch: opts.fetch } : {}), events: this.#recorder.tokenEvents };
    const controller = opts.config.controller;
    this.#subscriber =
      controller === undefined
        ? undefined
        : new Subscriber({ config: controller, log: opts.logger.child({ component: 'subscriber' }), authenticatorDeps: authnDeps });
    this.#authn = this.#subscriber !== undefined ? undefined : new Authenticator(opts.config.auth, authnDeps);
    this.#policy = this.#subscriber !== undefined ? undefined : initialPolicy(opts.config, opts.logger);
    const subscriber = this.#subscriber;
    const pipeline = (this.#pipeline = new CheckPipeline({
      authenticator: subscriber ?? this.#authn!,
      authorizer: subscriber !== undefined ? () => subscriber.authorizer() : () => this.#policy,
      maxBodyBytes: opts.config.body.maxBytes,
      record: (o) => this.#recorder.record(o),
      ...(opts.config.upstream !== undefined
        ? {
            verifier: new InstanceVerifier({
              baseUrl: opts.config.upstream.fhirBaseUrl,
              timeoutMs: opts.config.upstream.timeoutMs,
              cacheSeconds: opts.config.upstream.cacheSeconds,
            }),
          }
        : {}),
      trace: (tp) => this.#recorder.startSpan(tp),
    }));
    this.#grpc = new AuthzGrpcServer({
      address: opts.config.listen.grpc,
      handler: pipeline,
      ready: () => this.ready(),
      maxReceiveBytes: opts.config.body.maxBytes + 256 * 1024,
    });
    this.#http = new HttpEndpoints({
      address: opts.config.listen.http,
      ready: () => this.ready(),
      metrics: async () => ({
        contentType: this.#recorder.metrics.registry.contentType,
        body: await this.#recorder.metrics.registry.metrics(),
      }),
    });
  }

  /**
   * Ready = not shutting down, a policy is loaded and every JWT issuer has usable keys. In
   * controller mode: a bundle (stream or verified snapshot) has been applied and its issuers have
   * keys — a bundle without a policy for this path is applied and Ready, and denies everything.
   */
  ready(): boolean {
    if (this.#subscriber !== undefined) return !this.#stopping && this.#subscriber.ready();
    return !this.#stopping && this.#policy !== undefined && this.#authn!.ready();
  }

  /** The Check pipeline the gRPC server calls (in-process benchmarks and tests call it directly). */
  get pipeline(): CheckPipeline {
    return this.#pipeline;
  }

  /** The controller subscriber (controller mode only), for status and tests. */
  get subscriber(): Subscriber | undefined {
    return this.#subscriber;
  }

  async start(): Promise<{ grpc: string; http: string }> {
    // The FHIR JSON Schema takes seconds to compile: do it before Envoy can ask.
    this.#policy?.warmUp();
    await this.#authn?.start();
    await this.#subscriber?.start();
    const grpc = await this.#grpc.start();
    const http = await this.#http.start();
    if (this.#cfg.listen.addressFile !== undefined) {
      const tmp = `${this.#cfg.listen.addressFile}.tmp`;
      writeFileSync(tmp, JSON.stringify({ grpc, http }));
      renameSync(tmp, this.#cfg.listen.addressFile);
    }
    this.#log.info('fhirgate-authz listening', { grpc, http, ready: this.ready() });
    return { grpc, http };
  }

  /** Graceful: report not-ready, finish in-flight checks (bounded), flush audit, stop timers. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const graceMs = this.#cfg.shutdown.graceSeconds * 1000;
    await this.#grpc.stop(graceMs);
    await this.#http.stop();
    this.#authn?.close();
    this.#subscriber?.stop();
    await this.#recorder.close();
    this.#log.info('fhirgate-authz stopped');
  }
}

/**
 * The policy from the config (inline or file). A policy that does not compile leaves the sidecar
 * without one: not ready, every check denied with policy_unavailable (fail closed).
 */
function initialPolicy(cfg: AuthzConfig, log: Logger): PolicyEngine | undefined {
  let result: ReturnType<typeof compilePolicy>;
  if (cfg.policy !== undefined) {
    result = compilePolicy(cfg.policy);
  } else {
    const loaded = cfg.policyFile === undefined ? [] : loadPolicyFile(cfg.policyFile);
    if (loaded.length !== 1) {
      log.error('policyFile must hold exactly one FhirAccessPolicy', { file: cfg.policyFile, found: loaded.length });
      return undefined;
    }
    result = loaded[0]!.result;
  }
  if (result.ok) return new PolicyEngine(result.policy);
  log.error('policy rejected', { file: cfg.policyFile, errors: result.errors });
  return undefined;
}
