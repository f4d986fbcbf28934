/**
 * Request-body validation (issue 3, item 7): the body Envoy forwarded, checked against the
 * classified request before the policy looks at it.
 *
 * Order of checks, cheapest first, each with its own reason:
 *
 * 1. Bodies only where the interaction takes one: create, update, patch, batch/transaction,
 *    POSTed operations, and `_search` form posts. A non-empty body anywhere else (GET, DELETE, …)
 *    is `body_unexpected` — a server might read it, and the policy did not.
 * 2. A body that Envoy truncated (partial) or that exceeds `maxBytes` → `request_body_too_large`;
 *    a missing or empty body where one is required → `body_missing`.
 * 3. Content-Type (content-type.ts): `application/fhir+json` or `application/json` for resources,
 *    `application/json-patch+json` for PATCH, the form type for `_search`, and
 *    `application/fhir+xml`/`application/xml` for resources only when `allowXml`; otherwise
 *    `fhir_content_type_unsupported` (415). FHIRPath Patch (a `Parameters` body on PATCH) is not
 *    accepted: what it changes cannot be judged without the stored resource and a FHIRPath engine.
 * 4. Encoding: UTF-8 only, decoded strictly. A leading byte order mark is refused
 *    (`body_encoding_invalid`): RFC 8259 §8.1 forbids senders to add one and lets parsers choose,
 *    and a gate and a server that choose differently would read different bodies.
 * 5. JSON (src/fhir/strict-json.ts): duplicate keys refused, nesting capped while parsing so that
 *    100,000 `[` never reach the stack; then array and string caps and well-formed strings
 *    (json-caps.ts). Caps → `request_body_too_large`; syntax → `body_json_invalid`.
 * 6. JSON Patch structure and protected paths (json-patch.ts).
 * 7. Resource identity, per FHIR R4 http.html: the body must be a JSON object naming an R4
 *    `resourceType`; for create and update it must be the URL's type; for update by id the body's
 *    `id` must be present and equal the URL id (the spec's 400); for create an `id` is ignored, as
 *    the server must ignore it (or refused with `createId: 'reject'`); batch/transaction bodies
 *    must be Bundles; operation bodies may be any R4 type (usually Parameters).
 * 8. FHIR R4 JSON Schema (schema.ts) → `body_schema_invalid`. 400 rather than 422: R4 reserves
 *    422 for profile and business-rule violations, and uses 400 for a resource that "could not be
 *    parsed or failed basic FHIR validation rules", which is what a schema failure is.
 *
 * `detail` is for `fhirgate explain` and audit: it names checks and element paths only, never a
 * value from the body. Anything unforeseen (an exception) is `internal_error`: fail closed.
 */
import type { ReasonCode } from '../../core/reasons.ts';
import type { Interaction } from '../request.ts';
import { isResourceType } from '../resource-types.ts';
import { parseStrictJson } from '../strict-json.ts';
import { parseContentType } from './content-type.ts';
import { checkJsonCaps } from './json-caps.ts';
import { validateJsonPatch } from './json-patch.ts';
import type { JsonPatchOperation } from './json-patch.ts';
import type { BodyRules } from './rules.ts';

/** What `validateBody` needs to know about the request; fields come from ingest and classify. */
export interface BodyInput {
  /** Upper-case HTTP method. */
  readonly method: string;
  /** The Content-Type header value as sent, undefined when absent. */
  readonly contentType: string | undefined;
  readonly body: Uint8Array | undefined;
  /** True when Envoy forwarded only part of the body. */
  readonly partial: boolean;
  /** Resource type from the URL (classify), undefined for system-level requests. */
  readonly resourceType: string | undefined;
  /** Resource id from the URL, undefined for type-level and conditional requests. */
  readonly id: string | undefined;
  readonly interaction: Interaction;
}

/** How the accepted body was read. */
export type BodyFormat = 'none' | 'json' | 'xml' | 'json-patch' | 'form';

export type BodyResult =
  | {
      readonly ok: true;
      readonly format: BodyFormat;
      /** The parsed resource for JSON resource bodies; undefined otherwise. */
      readonly resource: Record<string, unknown> | undefined;
      /** The operations of a JSON Patch body; undefined otherwise. */
      readonly patch: readonly JsonPatchOperation[] | undefined;
    }
  | { readonly ok: false; readonly reason: ReasonCode; readonly detail: string };

type Fail = Extract<BodyResult, { ok: false }>;
type Ok = Extract<BodyResult, { ok: true }>;

const fail = (reason: ReasonCode, detail: string): Fail => ({ ok: false, reason, detail });
const accept = (format: BodyFormat, resource?: Record<string, unknown>, patch?: readonly JsonPatchOperation[]): Ok => ({
  ok: true,
  format,
  resource,
  patch,
});

/** What kind of body an interaction carries. */
type BodyKind = 'none' | 'resource' | 'patch' | 'bundle' | 'operation' | 'form';

/** The answer for a request without a body where none was needed; made once and shared. */
export const NO_BODY: BodyResult = Object.freeze(accept('none'));

const JSON_TYPES: ReadonlySet<string> = new Set(['application/fhir+json', 'application/json']);
const XML_TYPES: ReadonlySet<string> = new Set(['application/fhir+xml', 'application/xml']);
const BODY_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH']);

/**
 * True when the method takes no body and none was forwarded: `validateBody` would answer NO_BODY
 * without looking at anything else, so a caller may skip building its input.
 */
export function isBodyless(method: string, body: Uint8Array | undefined, partial: boolean): boolean {
  return !BODY_METHODS.has(method) && (body === undefined || body.length === 0) && !partial;
}

function bodyKind(input: BodyInput): BodyKind {
  if (!BODY_METHODS.has(input.method)) return 'none';
  switch (input.interaction) {
    case 'create':
    case 'update':
      return 'resource';
    case 'patch':
      return 'patch';
    case 'batch':
    case 'transaction':
      return 'bundle';
    case 'operation-system':
    case 'operation-type':
    case 'operation-instance':
      return 'operation';
    case 'search-type':
    case 'search-system':
    case 'search-compartment':
      return 'form';
    default:
      return 'none';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function hasBom(body: Uint8Array): boolean {
  return body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf;
}

function isUtf8(body: Uint8Array): boolean {
  try {
    utf8.decode(body);
    return true;
  } catch {
    return false;
  }
}

/**
 * Validates a request body against `rules`. Pure; never throws. On success, `resource` is the
 * parsed JSON resource (a null-prototype object) for resource, bundle and operation bodies in JSON.
 */
export function validateBody(input: BodyInput, rules: BodyRules): BodyResult {
  try {
    return validateOrThrow(input, rules);
  } catch {
    return fail('internal_error', 'body validation failed unexpectedly');
  }
}

function validateOrThrow(input: BodyInput, rules: BodyRules): BodyResult {
  const kind = bodyKind(input);
  const body = input.body;
  const empty = body === undefined || body.length === 0;
  if (kind === 'none') {
    if (!empty || input.partial) return fail('body_unexpected', `${input.method} ${input.interaction} takes no body`);
    return NO_BODY;
  }
  if (input.partial) return fail('request_body_too_large', 'body was truncated before it reached the gate');
  if (body !== undefined && body.length > rules.maxBytes) return fail('request_body_too_large', 'body exceeds maxBytes');
  if (body === undefined || body.length === 0) {
    // A POSTed operation or `_search` may legitimately have no body (parameters in the URL).
    if (kind === 'operation' || kind === 'form') return accept('none');
    return fail('body_missing', `${input.interaction} needs a body`);
  }

  const ct = parseContentType(input.contentType);
  if (!ct.ok) return fail('fhir_content_type_unsupported', ct.detail);
  const media = ct.media.type;
  if (hasBom(body)) return fail('body_encoding_invalid', 'body starts with a byte order mark');

  if (kind === 'form') {
    if (media !== 'application/x-www-form-urlencoded') return fail('fhir_content_type_unsupported', 'search body must be a form');
    if (!isUtf8(body)) return fail('body_encoding_invalid', 'body is not valid UTF-8');
    return accept('form');
  }
  if (kind === 'patch') {
    if (media !== 'application/json-patch+json') {
      return fail('fhir_content_type_unsupported', 'PATCH accepts only application/json-patch+json');
    }
    const parsed = parseJson(body, rules);
    if (!parsed.ok) return parsed;
    const patch = validateJsonPatch(parsed.value);
    if (!patch.ok) return fail(patch.reason, patch.detail);
    return accept('json-patch', undefined, patch.operations);
  }
  if (XML_TYPES.has(media) && rules.allowXml && kind !== 'bundle') {
    if (!isUtf8(body)) return fail('body_encoding_invalid', 'body is not valid UTF-8');
    return accept('xml');
  }
  if (!JSON_TYPES.has(media)) return fail('fhir_content_type_unsupported', 'content type not in the allowlist');

  const parsed = parseJson(body, rules);
  if (!parsed.ok) return parsed;
  const resource = parsed.value;
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
    return fail('body_schema_invalid', 'body is not a JSON object');
  }
  const r = resource as Record<string, unknown>;
  const type = r['resourceType'];
  if (typeof type !== 'string' || !isResourceType(type)) {
    return fail('body_schema_invalid', 'resourceType missing or not an R4 resource type');
  }
  const identity = checkIdentity(input, kind, type, r, rules);
  if (identity !== undefined) return identity;
  if (rules.schema !== undefined) {
    const s = rules.schema.validate(r);
    if (!s.ok) return fail('body_schema_invalid', s.detail);
  }
  return accept('json', r);
}

type Parsed = { readonly ok: true; readonly value: unknown } | Fail;

function parseJson(body: Uint8Array, rules: BodyRules): Parsed {
  const p = parseStrictJson(body, { maxBytes: rules.maxBytes, maxDepth: rules.maxDepth });
  if (!p.ok) {
    switch (p.error) {
      case 'too_large':
        return fail('request_body_too_large', 'body exceeds maxBytes');
      case 'too_deep':
        return fail('request_body_too_large', 'JSON nesting exceeds maxDepth');
      case 'encoding':
        return fail('body_encoding_invalid', 'body is not valid UTF-8');
      case 'duplicate_key':
        return fail('body_json_invalid', 'an object repeats a key');
      case 'syntax':
        return fail('body_json_invalid', 'body is not valid JSON');
    }
  }
  const caps = checkJsonCaps(p.value, rules);
  if (!caps.ok) {
    const at = caps.path === '' ? '/' : caps.path;
    switch (caps.error) {
      case 'array_too_long':
        return fail('request_body_too_large', `array at ${at} exceeds maxArrayLength`);
      case 'string_too_long':
        return fail('request_body_too_large', `string at ${at} exceeds maxStringLength`);
      case 'string_not_well_formed':
        return fail('body_encoding_invalid', `string at ${at} is not well-formed Unicode`);
    }
  }
  return p;
}

/** Resource type and id against the URL (FHIR R4 http.html#create, #update). */
function checkIdentity(
  input: BodyInput,
  kind: BodyKind,
  type: string,
  r: Record<string, unknown>,
  rules: BodyRules,
): Fail | undefined {
  if (kind === 'bundle') return type === 'Bundle' ? undefined : fail('body_resource_mismatch', 'batch/transaction body is not a Bundle');
  if (kind !== 'resource') return undefined;
  if (input.resourceType === undefined || type !== input.resourceType) {
    return fail('body_resource_mismatch', 'resourceType differs from the URL type');
  }
  const hasId = Object.hasOwn(r, 'id');
  if (input.interaction === 'create') {
    if (hasId && rules.createId === 'reject') return fail('body_resource_mismatch', 'create body carries an id');
    return undefined;
  }
  // Update by id: the body must carry the same id. Conditional update (no URL id): any id is for
  // the server to reconcile with the match it finds.
  if (input.id !== undefined) {
    if (!hasId) return fail('body_resource_mismatch', 'update body has no id');
    if (r['id'] !== input.id) return fail('body_resource_mismatch', 'body id differs from the URL id');
  }
  return undefined;
}
