/**
 * Credential presentation (RFC 6750 §2): fhirgate accepts exactly one bearer token, in the
 * Authorization header only. A token that also travels in the query string or a form body is a
 * second credential (and a leak into access logs), so it is refused rather than ignored.
 */
import type { HttpRequest } from '../core/http.ts';

export type BearerFailure = 'credential_missing' | 'credential_multiple' | 'credential_malformed' | 'token_too_large';

export type BearerResult = { readonly ok: true; readonly token: string } | { readonly ok: false; readonly reason: BearerFailure };

/** RFC 6750 §2.1 b64token, anchored: one or more token chars, then optional '=' padding. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const SCHEME = 'bearer ';
const FORM_TYPE = 'application/x-www-form-urlencoded';
const PARAM = 'access_token';

/**
 * Extracts the single bearer token of a request. Never throws. The size cap is applied to the
 * raw header before any parsing, so an oversized value costs one length comparison.
 */
export function extractBearer(req: HttpRequest, maxTokenBytes: number): BearerResult {
  const located = locateBearer(req, maxTokenBytes);
  if (!located.ok) return located;
  return isB64Token(located.token) ? located : fail('credential_malformed');
}

/** RFC 6750 §2.1 b64token syntax of a token taken from the header. */
export function isB64Token(token: string): boolean {
  return B64TOKEN.test(token);
}

/**
 * Every presentation rule of {@link extractBearer} except the b64token syntax of the token
 * itself: exactly one credential, in the Authorization header, with the Bearer scheme, within the
 * size cap. The authenticator checks the syntax only for tokens it has not verified before — a
 * cached token is a string that passed the whole of extractBearer when it was first seen.
 */
export function locateBearer(req: HttpRequest, maxTokenBytes: number): BearerResult {
  const value = req.headers.get('authorization');
  const inQuery = hasAccessTokenParam(req.rawQuery);
  const inBody = bodyHasAccessToken(req);
  if (value === undefined) {
    // A token only in the URL or body is a presentation method we do not support (and the URL
    // one has already leaked into logs upstream of us); say so rather than "missing".
    return inQuery || inBody ? fail('credential_malformed') : fail('credential_missing');
  }
  if (value.length > maxTokenBytes + SCHEME.length) return fail('token_too_large');
  if (req.duplicateHeaders.has('authorization') || value.includes(',')) return fail('credential_multiple');
  if (inQuery || inBody) return fail('credential_multiple');
  if (value.length <= SCHEME.length || value.slice(0, SCHEME.length).toLowerCase() !== SCHEME) {
    return fail('credential_malformed');
  }
  return { ok: true, token: value.slice(SCHEME.length) };
}

function fail(reason: BearerFailure): BearerResult {
  return { ok: false, reason };
}

/** True when a urlencoded parameter list names `access_token` (name compared after decoding). */
export function hasAccessTokenParam(encoded: string): boolean {
  if (encoded === '') return false;
  // Cheap pre-filter: the name must appear literally or with at least one percent escape.
  if (!encoded.includes('access') && !encoded.includes('%')) return false;
  for (const part of encoded.split('&')) {
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    if (decodeFormName(rawName) === PARAM) return true;
  }
  return false;
}

function decodeFormName(raw: string): string {
  const plus = raw.replaceAll('+', ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

function bodyHasAccessToken(req: HttpRequest): boolean {
  const body = req.body;
  if (body === undefined || body.length === 0) return false;
  const type = req.headers.get('content-type');
  if (type === undefined || !type.toLowerCase().startsWith(FORM_TYPE)) return false;
  return hasAccessTokenParam(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1'));
}
