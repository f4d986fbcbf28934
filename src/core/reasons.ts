/**
 * The catalogue of decision reason codes. Every denial carries exactly one of these; the code is
 * stable (it is a metric label, an audit field and part of the API), the text is what the client
 * sees in the OperationOutcome. Texts say what to fix and nothing that helps an attacker: no key
 * ids, no expected values, no internal state.
 *
 * Adding a reason = adding one entry here (+ a test that produces it).
 */

/** RFC 6750 §3.1 error codes for WWW-Authenticate. */
export type BearerError = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

/** FHIR R4 IssueType codes used in OperationOutcome.issue.code. */
export type IssueType =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'security'
  | 'login'
  | 'unknown'
  | 'expired'
  | 'forbidden'
  | 'suppressed'
  | 'processing'
  | 'not-supported'
  | 'too-long'
  | 'too-costly'
  | 'throttled'
  | 'exception'
  | 'timeout'
  | 'transient';

export interface ReasonInfo {
  /** HTTP status Envoy returns to the client. */
  readonly status: 400 | 401 | 403 | 404 | 405 | 413 | 415 | 422 | 429 | 431 | 503;
  /** FHIR IssueType for the OperationOutcome. */
  readonly issue: IssueType;
  /** RFC 6750 error for WWW-Authenticate; omitted → no error attribute (or no header for non-401). */
  readonly bearerError?: BearerError;
  /** Client-facing text. Concise, fixed, safe. */
  readonly text: string;
}

const r = (
  status: ReasonInfo['status'],
  issue: IssueType,
  text: string,
  bearerError?: BearerError,
): ReasonInfo => (bearerError === undefined ? { status, issue, text } : { status, issue, text, bearerError });

export const REASONS = {
  // ── ingest: the request itself ───────────────────────────────────────────────────────────────
  request_malformed: r(400, 'structure', 'The request could not be parsed.'),
  request_header_invalid: r(400, 'structure', 'A request header is malformed or repeated where only one is allowed.'),
  request_path_invalid: r(400, 'structure', 'The request path is not a valid FHIR REST path.'),
  request_body_too_large: r(413, 'too-long', 'The request body exceeds the allowed size.'),
  route_not_allowed: r(403, 'forbidden', 'No policy rule allows this request.'),

  // ── authenticate: credential presentation (RFC 6750) ─────────────────────────────────────────
  credential_missing: r(401, 'login', 'An access token is required: send it as Authorization: Bearer <token>.'),
  credential_multiple: r(401, 'security', 'Send exactly one access token, in the Authorization header only.', 'invalid_request'),
  credential_malformed: r(401, 'security', 'The Authorization header must be "Bearer <token>".', 'invalid_request'),
  token_too_large: r(401, 'security', 'The access token is too large.', 'invalid_request'),

  // ── authenticate: token verification ─────────────────────────────────────────────────────────
  token_malformed: r(401, 'security', 'The access token is malformed.', 'invalid_token'),
  token_issuer_unknown: r(401, 'security', 'The access token was not issued by a trusted issuer.', 'invalid_token'),
  token_header_rejected: r(401, 'security', 'The access token header uses a type, algorithm or parameter that is not accepted.', 'invalid_token'),
  token_signature_invalid: r(401, 'security', 'The access token signature is invalid.', 'invalid_token'),
  token_claims_invalid: r(401, 'security', 'The access token is missing required claims or has invalid ones.', 'invalid_token'),
  token_audience_mismatch: r(401, 'security', 'The access token was not issued for this server.', 'invalid_token'),
  token_expired: r(401, 'expired', 'The access token has expired.', 'invalid_token'),
  token_not_yet_valid: r(401, 'security', 'The access token is not yet valid.', 'invalid_token'),
  token_lifetime_exceeded: r(401, 'security', 'The access token lifetime exceeds the allowed maximum.', 'invalid_token'),
  token_revoked: r(401, 'security', 'The access token has been revoked.', 'invalid_token'),
  token_inactive: r(401, 'security', 'The access token is not active.', 'invalid_token'),
  token_binding_mismatch: r(401, 'security', 'The access token is bound to a different client certificate.', 'invalid_token'),
  token_binding_required: r(401, 'security', 'This access token must be presented over mutual TLS with its bound certificate.', 'invalid_token'),

  // ── authenticate: dependencies (fail closed) ─────────────────────────────────────────────────
  issuer_keys_unavailable: r(503, 'transient', 'The token issuer keys are temporarily unavailable; retry later.'),
  introspection_unavailable: r(503, 'transient', 'Token introspection is temporarily unavailable; retry later.'),

  // ── classify: FHIR REST grammar (src/fhir/) ──────────────────────────────────────────────────
  fhir_interaction_unknown: r(405, 'not-supported', 'The HTTP method and path do not form a supported FHIR interaction.'),
  fhir_resource_type_unknown: r(404, 'not-supported', 'The resource type is not a known FHIR R4 resource type.'),
  fhir_search_invalid: r(400, 'invalid', 'The search or query parameters are malformed or not supported.'),
  fhir_operation_not_allowed: r(403, 'forbidden', 'This FHIR operation is not allowed here.'),
  fhir_bundle_invalid: r(400, 'structure', 'The batch or transaction Bundle is malformed or has an entry that cannot be processed.'),
  fhir_content_type_unsupported: r(415, 'not-supported', 'The request body content type is not supported for this interaction.'),

  // ── SMART launch context from the token ──────────────────────────────────────────────────────
  launch_context_invalid: r(401, 'security', 'The access token carries a malformed launch context.', 'invalid_token'),

  // ── authorize ────────────────────────────────────────────────────────────────────────────────
  scope_insufficient: r(403, 'forbidden', 'The access token does not grant the scope this request needs.', 'insufficient_scope'),
  policy_unavailable: r(503, 'transient', 'Authorization policy is not loaded; retry later.'),

  // ── limit ────────────────────────────────────────────────────────────────────────────────────
  rate_limited: r(429, 'throttled', 'Too many requests; retry later.'),

  // ── anything unexpected (fail closed) ────────────────────────────────────────────────────────
  internal_error: r(503, 'exception', 'The request could not be authorized; retry later.'),
} as const satisfies Record<string, ReasonInfo>;

/** A denial reason. */
export type ReasonCode = keyof typeof REASONS;
/** The reason label of any decision: 'allowed' for allows, a ReasonCode for denials. */
export type DecisionReason = ReasonCode | 'allowed';

export function reasonInfo(code: ReasonCode): ReasonInfo {
  return REASONS[code];
}

export function isReasonCode(s: string): s is ReasonCode {
  return Object.hasOwn(REASONS, s);
}
