/**
 * The Check pipeline: ingest → classify (route) → authenticate → authorize → respond, then record.
 * Each phase is a named step that either hands on or ends in a Deny with a stable reason code.
 * Any unexpected exception ends in `internal_error` (503): the pipeline fails closed.
 */
import type { Decision, Obligation } from '../core/decision.ts';
import { isPromise } from '../core/maybe-async.ts';
import type { MaybePromise } from '../core/maybe-async.ts';
import { deny } from '../core/decision.ts';
import type { HttpRequest } from '../core/http.ts';
import type { Principal } from '../core/principal.ts';
import type { ReasonCode } from '../core/reasons.ts';
import type { CheckRequest, CheckResponse } from '../envoy/check-types.ts';
import { DEFAULT_INGEST_LIMITS, ingest } from '../envoy/ingest.ts';
import type { IngestLimits } from '../envoy/ingest.ts';
import { toCheckResponse } from '../envoy/respond.ts';
import type { Authorizer, RouteMatch } from '../policy/authorizer.ts';
import { VERIFY_INSTANCE } from '../policy/patient-compartment.ts';
import type { VerifyOutcome } from './verify.ts';

export type AuthnOutcome =
  | { ok: true; principal: Principal; cached?: boolean }
  | { ok: false; reason: ReasonCode; principal?: Principal; retryAfterSeconds?: number };

/**
 * What the authenticate phase needs from src/token (structural, so tests can pass fakes). An
 * answer known at once (a cached token, a malformed header) may come back without a Promise.
 */
export interface AuthenticatePort {
  authenticate(req: HttpRequest): MaybePromise<AuthnOutcome>;
}

/** The decision for one ingested request, and whether the token came from the cache. */
export interface Decided {
  readonly decision: Decision;
  readonly tokenCached: boolean;
}

/** One finished check, handed to the record phase (audit, metrics, logs, span attributes). */
export interface CheckOutcome {
  readonly decision: Decision;
  /** undefined when ingest failed. */
  readonly request: HttpRequest | undefined;
  readonly requestId: string;
  readonly durationSeconds: number;
  /** true when the token came from the verified-token cache. */
  readonly tokenCached: boolean;
  /** Set when the pipeline caught an unexpected error (already turned into internal_error). */
  readonly error: unknown;
  /** Trace id of this check's span, when tracing is on. */
  readonly traceId: string | undefined;
}

/** A started span: its trace id (for the audit event) and how to end it. */
export interface CheckSpanHandle {
  readonly traceId: string | undefined;
  end(outcome: CheckOutcome): void;
}

export interface PipelineDeps {
  readonly authenticator: AuthenticatePort;
  /** The current compiled policy; undefined means none is loaded (→ 503, fail closed). */
  readonly authorizer: () => Authorizer | undefined;
  readonly maxBodyBytes: number;
  readonly ingestLimits?: IngestLimits;
  readonly record: (outcome: CheckOutcome) => void;
  /** Runs verify-instance obligations against the FHIR server; absent → such requests are denied. */
  readonly verifier?: { verify(o: Obligation, authorization: string | undefined): Promise<VerifyOutcome> };
  /** Starts a trace span for one check (joined to the caller's traceparent); ended with the outcome. */
  readonly trace?: (traceparent: string | undefined) => CheckSpanHandle;
  /** Monotonic seconds, injectable for tests. */
  readonly monotonic?: () => number;
}

const hr = (): number => performance.now() / 1e3;

export class CheckPipeline {
  readonly #deps: PipelineDeps;
  readonly #now: () => number;

  constructor(deps: PipelineDeps) {
    this.#deps = deps;
    this.#now = deps.monotonic ?? hr;
  }

  /**
   * Envoy CheckRequest → CheckResponse. Never throws, never rejects. When every phase can answer
   * at once (the usual case: a cached token, no instance lookup) the response comes back without
   * a Promise; otherwise a Promise of it.
   */
  check(raw: CheckRequest): MaybePromise<CheckResponse> {
    const started = this.#now();
    const ingested = ingest(raw, this.#deps.ingestLimits ?? DEFAULT_INGEST_LIMITS);
    const requestId = ingested.ok ? ingested.request.requestId : ingested.requestId;
    const span = this.#startSpan(ingested.ok ? ingested.request.traceparent : undefined);
    if (!ingested.ok) return this.#finish(deny(ingested.reason, 'ingest'), false, undefined, undefined, requestId, started, span);
    const request = ingested.request;
    let decided: MaybePromise<Decided>;
    try {
      decided = this.decide(request);
    } catch (err) {
      return this.#finish(deny('internal_error', 'respond'), false, err, request, requestId, started, span);
    }
    if (!isPromise(decided)) return this.#finish(decided.decision, decided.tokenCached, undefined, request, requestId, started, span);
    return decided.then(
      (d) => this.#finish(d.decision, d.tokenCached, undefined, request, requestId, started, span),
      (err: unknown) => this.#finish(deny('internal_error', 'respond'), false, err, request, requestId, started, span),
    );
  }

  /** respond, then record (which must never change the answer). */
  #finish(
    decision: Decision,
    tokenCached: boolean,
    error: unknown,
    request: HttpRequest | undefined,
    requestId: string,
    started: number,
    span: CheckSpanHandle | undefined,
  ): CheckResponse {
    let response: CheckResponse;
    try {
      response = toCheckResponse(decision, requestId, request?.headers.keys() ?? []);
    } catch (err) {
      error ??= err;
      decision = deny('internal_error', 'respond');
      response = toCheckResponse(decision, requestId);
    }
    const outcome: CheckOutcome = {
      decision,
      request,
      requestId,
      durationSeconds: this.#now() - started,
      tokenCached,
      error,
      traceId: span?.traceId,
    };
    try {
      span?.end(outcome);
      this.#deps.record(outcome);
    } catch {
      // Recording must never change the answer; sinks count their own failures.
    }
    return response;
  }

  #startSpan(traceparent: string | undefined): CheckSpanHandle | undefined {
    try {
      return this.#deps.trace?.(traceparent);
    } catch {
      return undefined;
    }
  }

  /** The decision for one ingested request: the phases in order (a Promise only when one waits). */
  decide(req: HttpRequest): MaybePromise<Decided> {
    const bodyDenial = checkBodySize(req, this.#deps.maxBodyBytes);
    if (bodyDenial !== undefined) return { decision: deny(bodyDenial, 'ingest'), tokenCached: false };

    const authorizer = this.#deps.authorizer();
    if (authorizer === undefined) return { decision: deny('policy_unavailable', 'authorize'), tokenCached: false };

    const match = authorizer.route(req);
    if (match.kind === 'invalid') return { decision: deny(match.reason, 'classify'), tokenCached: false };
    if (match.kind === 'public') return { decision: authorizer.allowPublic(req, match), tokenCached: false };

    const authn = this.#deps.authenticator.authenticate(req);
    if (isPromise(authn)) return authn.then((a) => this.#authorize(req, authorizer, match, a));
    return this.#authorize(req, authorizer, match, authn);
  }

  #authorize(req: HttpRequest, authorizer: Authorizer, match: RouteMatch & { kind: 'protected' }, authn: AuthnOutcome): MaybePromise<Decided> {
    if (!authn.ok) {
      return {
        decision: deny(authn.reason, 'authenticate', {
          principal: authn.principal,
          retryAfterSeconds: authn.retryAfterSeconds,
        }),
        tokenCached: false,
      };
    }
    const tokenCached = authn.cached === true;
    const decision = authorizer.authorize(req, match, authn.principal);
    if (decision.kind === 'deny' || decision.obligations.length === 0) return { decision, tokenCached };
    return this.#meetObligations(req, decision).then((d) => ({ decision: d, tokenCached }));
  }

  /** An allow with obligations stands only when every obligation is met; unknown kinds deny. */
  async #meetObligations(req: HttpRequest, d: Decision): Promise<Decision> {
    if (d.kind === 'deny' || d.obligations.length === 0) return d;
    const verifier = this.#deps.verifier;
    for (const o of d.obligations) {
      if (o.kind !== VERIFY_INSTANCE || verifier === undefined) {
        return deny('instance_verification_unavailable', 'authorize', { principal: d.principal, rule: d.rule });
      }
      const outcome = await verifier.verify(o, req.headers.get('authorization'));
      if (outcome === 'no-match') return deny('instance_not_in_compartment', 'authorize', { principal: d.principal, rule: d.rule });
      if (outcome !== 'match') return deny('instance_verification_unavailable', 'authorize', { principal: d.principal, rule: d.rule });
    }
    return d;
  }
}

/** 413 when Envoy forwarded only part of the body or the declared/forwarded size is over the cap. */
export function checkBodySize(req: HttpRequest, maxBytes: number): ReasonCode | undefined {
  if (req.bodyPartial) return 'request_body_too_large';
  if (req.declaredSize > maxBytes) return 'request_body_too_large';
  if (req.body !== undefined && req.body.byteLength > maxBytes) return 'request_body_too_large';
  return undefined;
}
