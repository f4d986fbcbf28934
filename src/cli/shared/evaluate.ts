/**
 * Runs one request through the sidecar's Check pipeline — ingest, classify, authenticate,
 * authorize, respond — and reports everything an operator needs to understand the answer. This is
 * the only place the CLI touches the decision path; `explain` prints its result and `test`
 * compares it with expectations.
 */
import type { Decision, Obligation, Phase } from '../../core/decision.ts';
import type { DecisionReason } from '../../core/reasons.ts';
import { reasonInfo } from '../../core/reasons.ts';
import { CheckPipeline } from '../../authz/pipeline.ts';
import type { CheckOutcome } from '../../authz/pipeline.ts';
import type { VerifyOutcome } from '../../authz/verify.ts';
import type { CheckResponse } from '../../envoy/check-types.ts';
import type { FhirRequest } from '../../fhir/request.ts';
import { PolicyEngine } from '../../policy/engine.ts';
import type { CredentialSetup } from './credential.ts';
import type { PolicySource } from './policies.ts';
import { toCheckRequest } from './request.ts';
import type { CliRequest } from './request.ts';

/** The classified request, reduced to what explains a decision. */
export interface RequestSummary {
  readonly interaction: string;
  readonly method: string;
  readonly resourceType: string | undefined;
  readonly id: string | undefined;
  readonly versionId: string | undefined;
  readonly compartment: string | undefined;
  readonly operation: string | undefined;
  readonly conditional: boolean;
  /** Search parameters as `name[:modifier][.chain]=v1,v2`. */
  readonly params: readonly string[];
  /** Result parameters the server will apply (`_count`, `_include`, `_elements`, …). */
  readonly resultParams: Readonly<Record<string, string>>;
  /** Batch/transaction entries, each summarized the same way. */
  readonly entries: readonly RequestSummary[];
}

export interface Evaluation {
  readonly decision: 'allow' | 'deny';
  /** HTTP status the client gets: 200 when forwarded (the upstream answers), else the denial's. */
  readonly status: number;
  readonly reason: DecisionReason;
  /** Catalogue text for the reason (what the client reads in the OperationOutcome). */
  readonly reasonText: string;
  readonly phase: Phase;
  readonly rule: string;
  readonly rewrites: { readonly set: Readonly<Record<string, string>>; readonly remove: readonly string[] };
  readonly obligations: readonly Obligation[];
  /** What the sidecar's obligation step was told (the CLI has no FHIR server to ask). */
  readonly assumedInstance: VerifyOutcome | undefined;
  readonly patients: readonly string[];
  readonly breakGlass: boolean;
  readonly wwwAuthenticate: string | undefined;
  readonly requiredScope: string | undefined;
  /** undefined when the request did not classify (the denial says why). */
  readonly request: RequestSummary | undefined;
  /** `name@hash` of the policy that decided, and where it came from. */
  readonly policy: { readonly id: string; readonly file: string; readonly index: number };
  readonly credential: CredentialSetup['kind'];
  readonly verified: boolean;
  readonly warnings: readonly string[];
}

export interface EvaluateInput {
  readonly policy: PolicySource;
  readonly request: CliRequest;
  readonly credential: CredentialSetup;
  /** Body cap of the sidecar (its config's `body.maxBytes`); default: the policy's `body.maxBytes`. */
  readonly maxBodyBytes?: number;
  /**
   * The answer the FHIR server is assumed to give to verify-instance obligations (does this
   * instance belong to the launch patient?). Default 'match': explain shows the allow and the
   * obligation that would be checked; 'no-match' and 'unavailable' show the sidecar's denials.
   */
  readonly assumeInstance?: VerifyOutcome;
}

const JSON_TYPE = 'application/fhir+json';

export async function evaluate(input: EvaluateInput): Promise<Evaluation> {
  const engine = new PolicyEngine(input.policy.policy);
  let outcome: CheckOutcome | undefined;
  const asked: Obligation[] = [];
  const assumed = input.assumeInstance ?? 'match';
  const pipeline = new CheckPipeline({
    verifier: {
      verify: (o) => {
        asked.push(o);
        return Promise.resolve(assumed);
      },
    },
    authenticator: input.credential.port,
    authorizer: () => engine,
    maxBodyBytes: input.maxBodyBytes ?? input.policy.policy.body.maxBytes,
    record: (o) => {
      outcome = o;
    },
  });
  const headers = [...input.request.headers, ...input.credential.headers];
  if (input.request.body !== undefined && !headers.some(([k]) => k.toLowerCase() === 'content-type')) headers.push(['content-type', JSON_TYPE]);
  const response = await pipeline.check(toCheckRequest({ ...input.request, headers }));
  if (outcome === undefined) throw new Error('the check pipeline did not record an outcome');
  const fhir = outcome.request === undefined ? undefined : routeSummary(engine, outcome.request);
  return describe(outcome.decision, response, fhir, input, asked.length === 0 ? undefined : assumed, asked);
}

function routeSummary(engine: PolicyEngine, req: NonNullable<CheckOutcome['request']>): RequestSummary | undefined {
  const m = engine.route(req);
  return m.kind === 'invalid' ? undefined : summarize(m.fhir);
}

function describe(
  d: Decision,
  response: CheckResponse,
  request: RequestSummary | undefined,
  input: EvaluateInput,
  assumedInstance: VerifyOutcome | undefined,
  asked: readonly Obligation[],
): Evaluation {
  const common = {
    assumedInstance,
    rule: d.rule,
    request,
    policy: { id: `${input.policy.policy.name}@${input.policy.policy.hash.slice(0, 12)}`, file: input.policy.file, index: input.policy.index },
    credential: input.credential.kind,
    verified: input.credential.verified,
    warnings: input.credential.warnings,
  };
  if (d.kind === 'allow') {
    return {
      ...common,
      decision: 'allow',
      status: 200,
      reason: 'allowed',
      reasonText: 'The request is forwarded to the FHIR server.',
      phase: 'authorize',
      rewrites: { set: Object.fromEntries(d.query.set), remove: [...d.query.remove] },
      obligations: d.obligations,
      patients: d.patients,
      breakGlass: d.breakGlass,
      wwwAuthenticate: undefined,
      requiredScope: undefined,
    };
  }
  const info = reasonInfo(d.reason);
  const challenge = response.denied_response?.headers.find((h) => h.header.key === 'www-authenticate')?.header.value;
  return {
    ...common,
    decision: 'deny',
    status: info.status,
    reason: d.reason,
    reasonText: info.text,
    phase: d.phase,
    rewrites: { set: {}, remove: [] },
    // A denial by the obligation step still shows what was checked.
    obligations: asked,
    patients: [],
    breakGlass: false,
    wwwAuthenticate: challenge,
    requiredScope: d.requiredScope,
  };
}

export function summarize(f: FhirRequest): RequestSummary {
  const params = f.search.params.map((p) => {
    const chain = p.chain.map((c) => `.${c.name}${c.modifier !== undefined ? `:${c.modifier}` : ''}`).join('');
    const has = p.has === undefined ? '' : `:${p.has.links.map((l) => `${l.resourceType}:${l.reference}`).join(':_has:')}:${p.has.param}`;
    return `${p.name}${has}${p.modifier !== undefined ? `:${p.modifier}` : ''}${chain}=${p.values.map((v) => v.raw).join(',')}`;
  });
  const r = f.search.result;
  const result: Record<string, string> = {};
  if (r.count !== undefined) result['_count'] = String(r.count);
  if (r.elements !== undefined) result['_elements'] = r.elements.join(',');
  if (r.summary !== undefined) result['_summary'] = r.summary;
  const inc = (list: typeof r.include): string =>
    list.map((i) => (i.wildcard ? '*' : [i.sourceType, i.param, i.targetType].filter((x) => x !== undefined).join(':')) + (i.iterate ? ' (iterate)' : '')).join(',');
  if (r.include.length > 0) result['_include'] = inc(r.include);
  if (r.revinclude.length > 0) result['_revinclude'] = inc(r.revinclude);
  if (r.contained !== undefined) result['_contained'] = r.contained;
  return {
    interaction: f.interaction,
    method: f.method,
    resourceType: f.resourceType,
    id: f.id,
    versionId: f.versionId,
    compartment: f.compartment === undefined ? undefined : `${f.compartment.type}/${f.compartment.id}/${f.compartment.targetType}`,
    operation: f.operation,
    conditional: f.conditional,
    params,
    resultParams: result,
    entries: f.entries.map((e) => summarize(e.request)),
  };
}
