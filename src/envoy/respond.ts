/**
 * respond: Decision → Envoy CheckResponse. An allow becomes an OkHttpResponse with upstream
 * headers, query rewrites and dynamic metadata; a denial becomes a DeniedHttpResponse with the
 * catalogue's status, RFC 6750 WWW-Authenticate, Retry-After and a FHIR OperationOutcome body
 * that names the reason code and nothing else about the request.
 */
import type { Decision, Deny } from '../core/decision.ts';
import { reasonInfo } from '../core/reasons.ts';
import type { ReasonInfo } from '../core/reasons.ts';
import type { CheckResponse, HeaderValueOption, StructValue } from './check-types.ts';

// Module-level, not literals in the functions at the end: a regex literal is a new object each time
// it is evaluated, and these run on every Check.
const NOT_TOKEN_CHAR = /[^a-z0-9!#$%&'*+.^_`|~-]/g;
const NOT_VISIBLE_ASCII = /[^\x20-\x7e]/g;
const QUOTED_SPECIAL = /(["\\])/g;

/** Namespace of the reason code system in OperationOutcome.issue.details. */
export const REASON_SYSTEM = 'https://fhirgate.io/CodeSystem/reason';
/** Upstream headers fhirgate owns: stripped from every client request, set only by us. */
export const OWNED_HEADER_PREFIX = 'x-fhirgate-';

const GRPC_OK = 0;
const GRPC_PERMISSION_DENIED = 7;
const GRPC_UNAUTHENTICATED = 16;

const STATUS_NAMES: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  413: 'PayloadTooLarge',
  415: 'UnsupportedMediaType',
  422: 'UnprocessableEntity',
  429: 'TooManyRequests',
  431: 'RequestHeaderFieldsTooLarge',
  503: 'ServiceUnavailable',
};

export interface RespondOptions {
  /** realm in WWW-Authenticate. */
  readonly realm: string;
}

export const DEFAULT_RESPOND_OPTIONS: RespondOptions = { realm: 'fhirgate' };

/** Client-sent headers removed before the upstream sees the request. */
export function headersToStrip(clientHeaderNames: Iterable<string>): string[] {
  const out: string[] = [];
  for (const name of clientHeaderNames) if (name.startsWith(OWNED_HEADER_PREFIX)) out.push(name);
  return out;
}

/** One upstream header we set, replacing any value the client sent. `name` must already be safe. */
function overwrite(name: string, value: string): HeaderValueOption {
  return { header: { key: name, value: safeHeaderValue(value) }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

// Our own header names are constants: safe as written, no per-Check sanitizing.
const RULE_HEADER = `${OWNED_HEADER_PREFIX}rule`;
const CLIENT_ID_HEADER = `${OWNED_HEADER_PREFIX}client-id`;

/** Added to every allowed response: PHI must not sit in shared caches. */
const ALLOW_RESPONSE_HEADERS: readonly HeaderValueOption[] = Object.freeze([overwrite('cache-control', 'no-store')]);
const NO_STRINGS: readonly string[] = Object.freeze([]);
const NO_PAIRS: ReadonlyArray<{ key: string; value: string }> = Object.freeze([]);
const ALLOWED = str('allowed');

export function toCheckResponse(
  decision: Decision,
  requestId: string,
  clientHeaderNames: Iterable<string> = [],
  opts: RespondOptions = DEFAULT_RESPOND_OPTIONS,
): CheckResponse {
  if (decision.kind === 'deny') return denied(decision, requestId, opts);
  const clientId = decision.principal?.clientId ?? '';
  const upstream: HeaderValueOption[] = [overwrite(RULE_HEADER, decision.rule)];
  if (clientId !== '') upstream.push(overwrite(CLIENT_ID_HEADER, clientId));
  for (const [k, v] of decision.upstreamHeaders) upstream.push(overwrite(safeHeaderName(k), v));
  const { set, remove } = decision.query;
  return {
    status: { code: GRPC_OK },
    ok_response: {
      headers: upstream,
      headers_to_remove: headersToStrip(clientHeaderNames),
      response_headers_to_add: ALLOW_RESPONSE_HEADERS as HeaderValueOption[],
      query_parameters_to_set: set.length === 0 ? (NO_PAIRS as Array<{ key: string; value: string }>) : set.map(([key, value]) => ({ key: encodeQueryComponent(key), value: encodeQueryComponent(value) })),
      query_parameters_to_remove: remove.length === 0 ? (NO_STRINGS as string[]) : remove.map(encodeQueryComponent),
    },
    dynamic_metadata: {
      fields: {
        client_id: str(clientId === '' ? 'unknown' : clientId),
        rule: str(decision.rule),
        reason: ALLOWED,
        break_glass: { boolValue: decision.breakGlass },
      },
    },
  };
}

function denied(d: Deny, requestId: string, opts: RespondOptions): CheckResponse {
  const info = reasonInfo(d.reason);
  const headers: HeaderValueOption[] = [
    { header: { key: 'content-type', value: 'application/fhir+json' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: 'cache-control', value: 'no-store' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: 'x-fhirgate-reason', value: d.reason }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
  ];
  const challenge = wwwAuthenticate(info, d, opts.realm);
  if (challenge !== undefined) {
    headers.push({ header: { key: 'www-authenticate', value: challenge }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
  }
  const retry = d.retryAfterSeconds ?? (info.status === 503 || info.status === 429 ? 5 : undefined);
  if (retry !== undefined) {
    headers.push({
      header: { key: 'retry-after', value: String(Math.max(1, Math.ceil(retry))) },
      append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
    });
  }
  return {
    status: { code: info.status === 401 ? GRPC_UNAUTHENTICATED : GRPC_PERMISSION_DENIED },
    denied_response: {
      status: { code: STATUS_NAMES[info.status] ?? 'Forbidden' },
      headers,
      body: operationOutcome(d.reason, info, requestId),
    },
    dynamic_metadata: {
      fields: {
        client_id: str(d.principal?.clientId || 'unknown'),
        rule: str(d.rule),
        reason: str(d.reason),
      },
    },
  };
}

/**
 * RFC 6750 §3: a request without credentials gets a bare challenge; failures carry `error`
 * (and `scope` for insufficient_scope). error_description is the fixed catalogue text.
 */
export function wwwAuthenticate(info: ReasonInfo, d: Deny, realm: string): string | undefined {
  if (info.status !== 401 && info.bearerError !== 'insufficient_scope') return undefined;
  const parts = [`realm="${quote(realm)}"`];
  if (info.bearerError !== undefined) {
    parts.push(`error="${info.bearerError}"`, `error_description="${quote(info.text)}"`);
  }
  if (info.bearerError === 'insufficient_scope' && d.requiredScope !== undefined && d.requiredScope !== '') {
    parts.push(`scope="${quote(d.requiredScope)}"`);
  }
  return `Bearer ${parts.join(', ')}`;
}

/** A FHIR R4 OperationOutcome naming the reason code; the request id lets support correlate. */
export function operationOutcome(reason: string, info: ReasonInfo, requestId: string): string {
  return JSON.stringify({
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: info.issue,
        details: { coding: [{ system: REASON_SYSTEM, code: reason }], text: info.text },
        diagnostics: `request-id: ${requestId}`,
      },
    ],
  });
}

/**
 * Envoy inserts query mutations as given (its own validation is off, see the bootstrap), so every
 * key and value is percent-encoded here: FHIR servers decode before splitting on `,` and `|`.
 */
export function encodeQueryComponent(s: string): string {
  return encodeURIComponent(s);
}

/** Header names we emit are our own constants; anything else is reduced to RFC 7230 token chars. */
export function safeHeaderName(name: string): string {
  return name.toLowerCase().replace(NOT_TOKEN_CHAR, '-').slice(0, 128) || 'x-fhirgate-invalid';
}

/** Header values may carry token-derived text (client ids): visible ASCII and spaces only, bounded. */
export function safeHeaderValue(value: string): string {
  return value.replace(NOT_VISIBLE_ASCII, '?').trim().slice(0, 512);
}

/** RFC 7230 quoted-string content: only visible ASCII and spaces, quotes and backslashes escaped. */
function quote(s: string): string {
  return s.replace(NOT_VISIBLE_ASCII, '').replace(QUOTED_SPECIAL, '\\$1');
}

function str(s: string): StructValue {
  return { stringValue: s };
}
