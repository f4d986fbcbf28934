/**
 * The audit event: one per decision, answering who (pseudonymized subject, client, issuer), what
 * (method, FHIR interaction and resource type), which patients (pseudonymized), when, from where,
 * why (reason code, rule, phase), break-glass, and the outcome.
 *
 * What it never holds, by construction: the token (only its `jti`), raw patient or subject ids,
 * the path (it carries ids), the query string, headers or the body. The builder reads only the
 * few request fields it needs (see {@link AuditRequest}), and every free-form value that reaches
 * the event is checked against a narrow pattern and dropped when it does not fit, because audit
 * logs are kept for years and read by tools that must not be fed attacker-shaped strings.
 */
import type { Clock } from '../core/clock.ts';
import type { Decision, Phase } from '../core/decision.ts';
import type { HttpRequest } from '../core/http.ts';
import type { Principal } from '../core/principal.ts';
import type { DecisionReason } from '../core/reasons.ts';
import { isReasonCode, reasonInfo } from '../core/reasons.ts';
import type { Pseudonymizer } from './pseudonym.ts';

export interface AuditEvent {
  /** ISO 8601 time of the decision. */
  readonly time: string;
  /** Envoy's x-request-id when it is a plain token, '' otherwise. */
  readonly requestId: string;
  readonly decision: 'allow' | 'deny';
  readonly reason: DecisionReason;
  /** Phase that denied; 'authorize' for allows (where the allowing rule matched). */
  readonly phase: Phase;
  /** Policy rule that decided; '' for default deny. */
  readonly rule: string;
  /** HTTP status of the check: 200 when Envoy forwards the request, else the denial's status. */
  readonly status: number;
  /** Upper-case HTTP method, '_OTHER' for non-standard ones. */
  readonly method: string;
  /** FHIR interaction (e.g. 'read', 'search-type'), when the request was classified. */
  readonly interaction?: string;
  /** FHIR resource type (e.g. 'Observation'), when known; never an id. */
  readonly resourceType?: string;
  /** Pseudonym of the token subject, when authenticated. */
  readonly subject?: string;
  readonly issuer?: string;
  /** OAuth client id (an application identifier, not PHI), when authenticated. */
  readonly clientId?: string;
  /** The token's `jti`, when it has one (never the token). */
  readonly jti?: string;
  /** Pseudonyms of the patients the request reaches (deduplicated, at most MAX_AUDIT_PATIENTS). */
  readonly patients: readonly string[];
  /** Patients beyond MAX_AUDIT_PATIENTS that were not listed. */
  readonly patientsOmitted?: number;
  /** Break-glass use and its category (never the user's free-text justification). */
  readonly breakGlass: { readonly used: boolean; readonly category?: string };
  /** Declared purpose of use (e.g. HL7 'TREAT', 'ETREAT'), when given. */
  readonly purposeOfUse?: string;
  /** Downstream address ("ip:port" or "unix:…"), when known. */
  readonly source?: string;
  /** Trace id of the check span (32 lower-case hex), to join the event to its trace. */
  readonly traceId?: string;
}

/** The only request fields an audit event may draw on. */
export type AuditRequest = Pick<HttpRequest, 'method' | 'requestId' | 'sourceAddress'>;

export interface AuditInput {
  readonly decision: Decision;
  readonly request: AuditRequest;
  /** From the classify phase, when it ran; type names only. */
  readonly fhir?: { readonly interaction?: string; readonly resourceType?: string };
  /** Trace id of the check span. */
  readonly traceId?: string;
  /** Category of the break-glass justification chosen by the policy (e.g. 'emergency'). */
  readonly breakGlassCategory?: string;
  /** Purpose-of-use code the request declared. */
  readonly purposeOfUse?: string;
}

export interface AuditContext {
  readonly pseudonymize: Pseudonymizer;
  readonly clock: Clock;
}

export const MAX_AUDIT_PATIENTS = 64;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const RULE = /^[A-Za-z0-9._:/@-]{1,128}$/;
const INTERACTION = /^[a-z][a-z-]{0,31}$/;
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{0,63}$/;
const CATEGORY = /^[a-z][a-z0-9_-]{0,31}$/;
const PURPOSE = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;
const TRACE_ID = /^(?!0{32})[0-9a-f]{32}$/;
/** IPv4/IPv6 with optional port, or a Unix socket path of plain characters. */
const SOURCE = /^(?:[0-9A-Fa-f:.[\]%]{2,64}|unix:[A-Za-z0-9._/@-]{0,200})$/;
/** Issuer URLs and client ids: printable ASCII without spaces or quotes, bounded. */
const IDENTIFIER = /^[!#-~]{1,512}$/;
const JTI = /^[!#-~]{1,256}$/;
const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

function fit(value: unknown, pattern: RegExp): string | undefined {
  return typeof value === 'string' && pattern.test(value) ? value : undefined;
}

interface PrincipalFields {
  readonly subject: string | undefined;
  readonly issuer: string | undefined;
  readonly clientId: string | undefined;
  readonly jti: string | undefined;
}

/**
 * The who-fields of a principal, checked and pseudonymized once per principal object: a cached
 * token's principal is one frozen object reused by every request that presents the token. Keyed
 * weakly (gone with the principal) and per pseudonymizer (a different key gives other pseudonyms).
 */
const whoMemo = new WeakMap<Principal, { readonly pseudonymize: Pseudonymizer; readonly fields: PrincipalFields }>();

function principalFields(p: Principal, pseudonymize: Pseudonymizer): PrincipalFields {
  const hit = whoMemo.get(p);
  if (hit !== undefined && hit.pseudonymize === pseudonymize) return hit.fields;
  const fields: PrincipalFields = {
    subject: typeof p.subject === 'string' && p.subject !== '' ? pseudonymize('subject', p.subject) : undefined,
    issuer: fit(p.issuer, IDENTIFIER),
    clientId: fit(p.clientId, IDENTIFIER),
    jti: fit(p.jti, JTI),
  };
  // Only frozen principals (the token layer's) are remembered: a mutable one could change under us.
  if (Object.isFrozen(p)) whoMemo.set(p, { pseudonymize, fields });
  return fields;
}

/** Builds the audit event for one decision. Pure apart from the clock; never throws on bad input. */
export function buildAuditEvent(input: AuditInput, ctx: AuditContext): AuditEvent {
  const d = input.decision;
  const principal = d.principal;
  const allow = d.kind === 'allow';

  // A denial whose reason is not in the catalogue is a bug upstream; record it as what it is.
  const reason: DecisionReason = allow ? 'allowed' : isReasonCode(d.reason) ? d.reason : 'internal_error';
  const patientIds = allow && Array.isArray(d.patients) ? [...new Set(d.patients.filter((p) => typeof p === 'string' && p !== ''))] : [];
  const listed = patientIds.slice(0, MAX_AUDIT_PATIENTS).map((p) => ctx.pseudonymize('patient', p));
  const omitted = patientIds.length - listed.length;

  const breakGlassUsed = allow && d.breakGlass === true;
  const category = breakGlassUsed ? fit(input.breakGlassCategory, CATEGORY) : undefined;

  const event: { -readonly [K in keyof AuditEvent]: AuditEvent[K] } = {
    time: new Date(ctx.clock.now()).toISOString(),
    requestId: fit(input.request.requestId, REQUEST_ID) ?? '',
    decision: d.kind,
    reason,
    phase: allow ? 'authorize' : d.phase,
    rule: fit(d.rule, RULE) ?? '',
    status: reason === 'allowed' ? 200 : reasonInfo(reason).status,
    method: KNOWN_METHODS.has(input.request.method) ? input.request.method : '_OTHER',
    patients: listed,
    breakGlass: category === undefined ? { used: breakGlassUsed } : { used: true, category },
  };
  const interaction = fit(input.fhir?.interaction, INTERACTION);
  if (interaction !== undefined) event.interaction = interaction;
  const resourceType = fit(input.fhir?.resourceType, RESOURCE_TYPE);
  if (resourceType !== undefined) event.resourceType = resourceType;
  if (principal !== undefined) {
    const who = principalFields(principal, ctx.pseudonymize);
    if (who.subject !== undefined) event.subject = who.subject;
    if (who.issuer !== undefined) event.issuer = who.issuer;
    if (who.clientId !== undefined) event.clientId = who.clientId;
    if (who.jti !== undefined) event.jti = who.jti;
  }
  if (omitted > 0) event.patientsOmitted = omitted;
  const purpose = fit(input.purposeOfUse, PURPOSE);
  if (purpose !== undefined) event.purposeOfUse = purpose;
  const source = fit(input.request.sourceAddress, SOURCE);
  if (source !== undefined) event.source = source;
  const traceId = fit(input.traceId, TRACE_ID);
  if (traceId !== undefined) event.traceId = traceId;
  return event;
}
