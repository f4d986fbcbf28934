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
  | 'not-found'
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

  // ── classify: request bodies (src/fhir/body/) ───────────────────────────────────────────────
  // Body caps (bytes, depth, array length, string length) use request_body_too_large (413) and a
  // content type outside the allowlist uses fhir_content_type_unsupported (415).
  body_missing: r(400, 'required', 'This interaction requires a request body.'),
  body_unexpected: r(400, 'invalid', 'This interaction does not accept a request body.'),
  body_encoding_invalid: r(400, 'structure', 'The request body must be UTF-8 without a byte order mark.'),
  body_json_invalid: r(400, 'structure', 'The request body is not valid JSON, or repeats a key within an object.'),
  body_resource_mismatch: r(400, 'invalid', 'The resource type or id in the body does not match the request URL.'),
  body_schema_invalid: r(400, 'structure', 'The resource in the body is not valid FHIR R4.'),
  body_patch_invalid: r(400, 'structure', 'The JSON Patch document is malformed.'),
  body_patch_forbidden: r(403, 'forbidden', 'The patch changes an element that cannot be changed by a patch here.'),

  // ── SMART launch context from the token ──────────────────────────────────────────────────────
  launch_context_invalid: r(401, 'security', 'The access token carries a malformed launch context.', 'invalid_token'),

  // ── authorize ────────────────────────────────────────────────────────────────────────────────
  scope_insufficient: r(403, 'forbidden', 'The access token does not grant the scope this request needs.', 'insufficient_scope'),
  policy_unavailable: r(503, 'transient', 'Authorization policy is not loaded; retry later.'),
  launch_context_missing: r(403, 'forbidden', 'A patient-level scope needs a patient launch context in the access token.', 'insufficient_scope'),
  patient_compartment_violation: r(403, 'forbidden', 'The request reaches data outside the launch patient\'s compartment.'),
  patient_compartment_unconfined: r(403, 'forbidden', 'Under a patient-level scope, searches must be confined to the launch patient (e.g. patient=<id>).'),
  compartment_instance_unverifiable: r(403, 'forbidden', 'Under a patient-level scope, this instance cannot be shown to belong to the launch patient; search by patient instead.'),
  compartment_type_not_allowed: r(403, 'forbidden', 'This resource type is not available under a patient-level scope.'),
  scope_restriction_unmet: r(403, 'forbidden', 'The request is not confined to the restrictions of the granted scope.', 'insufficient_scope'),
  search_has_denied: r(403, 'forbidden', 'Reverse chaining (_has) is not allowed.'),
  search_chain_denied: r(403, 'forbidden', 'Chained search parameters are not allowed here or are nested too deeply.'),
  search_include_denied: r(403, 'forbidden', 'An _include or _revinclude reaches a resource type that is not granted, or uses * or :iterate.'),
  search_param_required: r(400, 'required', 'This search needs a parameter the policy requires for the resource type.'),
  search_system_denied: r(403, 'forbidden', 'Searching or reading history across all resource types is not allowed for this token.'),
  search_feature_denied: r(403, 'forbidden', 'This search feature (_filter, _query, _contained or GraphQL) is not allowed.'),
  elements_not_allowed: r(403, 'forbidden', 'The requested _elements go beyond what this client may receive.'),
  role_insufficient: r(403, 'forbidden', 'The user\'s roles do not allow this request.'),
  client_ceiling_exceeded: r(403, 'forbidden', 'The token grants more than this client is registered for; no scope within the client\'s ceiling allows this request.', 'insufficient_scope'),
  consent_opt_out: r(403, 'forbidden', 'The patient has not consented to this access.'),
  purpose_of_use_required: r(403, 'forbidden', 'This data needs a permitted purpose of use (send the X-Purpose-Of-Use header).'),
  break_glass_invalid: r(403, 'forbidden', 'Break-glass access is not available for this user or request.'),
  // 404, not 403: whether another patient's resource exists is itself PHI.
  instance_not_in_compartment: r(404, 'not-found', 'No such resource in the launch patient\'s compartment.'),
  instance_verification_unavailable: r(503, 'transient', 'The resource could not be checked against the launch patient; retry later.'),

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
