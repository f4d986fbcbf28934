/**
 * Splitting and percent-decoding of a query string or an `application/x-www-form-urlencoded` body
 * into ordered name/value pairs.
 *
 * Decoding is strict on purpose: the upstream FHIR server decodes the same bytes, and any place
 * where our reading and its reading could differ is a place to smuggle a parameter past the policy.
 * So malformed escapes, invalid UTF-8, control characters and raw non-ASCII are rejected rather
 * than repaired. `+` means a space (servlet containers and form bodies agree on that); a literal
 * plus must be sent as `%2B`.
 */

import { EMPTY } from './lists.ts';

export type QueryPair = readonly [name: string, value: string];

export type QueryResult = { readonly ok: true; readonly pairs: readonly QueryPair[] } | { readonly ok: false };

/** Hard cap on pairs in one request; far above real FHIR searches, low enough to bound work. */
export const MAX_QUERY_PAIRS = 256;

// Patterns live at module level: a regex literal inside a function is a new RegExp object on
// every call.
const NEEDS_DECODING = /[%+]/;
const PLAIN = /^[\x21-\x22\x24-\x7e]*$/;
const TRAILING_NEWLINE = /\r?\n$/;
const PLUS = /\+/g;

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/**
 * Percent-decodes one component. Returns undefined for a malformed escape, invalid UTF-8, a raw
 * character outside printable ASCII, `#`, or a decoded control character.
 *
 * The raw characters and the escapes are checked here; the bytes are then decoded by
 * decodeURIComponent, which accepts exactly the well-formed UTF-8 sequences (no overlong forms,
 * no surrogates, nothing above U+10FFFF — the same set as a fatal TextDecoder, which
 * test/unit/fhir/query.test.ts checks) and builds the string without an intermediate buffer.
 */
export function decodeComponent(s: string): string | undefined {
  if (!NEEDS_DECODING.test(s)) {
    // Fast path (most names and many values): nothing to decode, only characters to check.
    return PLAIN.test(s) ? s : undefined;
  }
  let plus = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      if (!isHex(s.charCodeAt(i + 1)) || !isHex(s.charCodeAt(i + 2))) return undefined;
      i += 2;
    } else if (c === 0x2b) {
      plus = true;
    } else if (c <= 0x20 || c >= 0x7f || c === 0x23) {
      return undefined;
    }
  }
  let out: string;
  try {
    // `+` is a space; a literal plus arrives as %2B, which this replacement does not touch.
    out = decodeURIComponent(plus ? s.replace(PLUS, ' ') : s);
  } catch {
    return undefined; // URIError: the escapes are not well-formed UTF-8
  }
  // Decoded control characters (NUL, CR, LF, …) have no business in a FHIR search value.
  for (let i = 0; i < out.length; i++) {
    const c = out.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return undefined;
  }
  return out;
}

const FAILED: QueryResult = Object.freeze({ ok: false });
const NO_PAIRS: QueryResult = Object.freeze({ ok: true, pairs: EMPTY });

/**
 * Splits `raw` on `&` and each piece on its first `=`; empty pieces (`a=1&&b=2`) are skipped, as
 * every server does. A piece without `=` is a name with an empty value. More than
 * 4 × MAX_QUERY_PAIRS pieces (empty ones included) or MAX_QUERY_PAIRS pairs fail the whole query.
 *
 * The pieces are found by scanning, not `split`: a first pass counts them (and enforces the caps
 * before anything is allocated), a second decodes them into a list made at its final size.
 */
export function parseQueryPairs(raw: string): QueryResult {
  if (raw === '') return NO_PAIRS;
  let pieces = 0;
  let nonEmpty = 0;
  for (let start = 0; start <= raw.length; ) {
    let end = raw.indexOf('&', start);
    if (end < 0) end = raw.length;
    pieces += 1;
    if (end > start) nonEmpty += 1;
    if (pieces > MAX_QUERY_PAIRS * 4 || nonEmpty > MAX_QUERY_PAIRS) return FAILED;
    start = end + 1;
  }
  if (nonEmpty === 0) return NO_PAIRS;
  const pairs = new Array<QueryPair>(nonEmpty);
  let n = 0;
  // The next '=' at or after `start` (raw.length when there is none), searched again only once
  // `start` has passed it, so that pieces without '=' do not make the scan quadratic.
  let eq = -1;
  for (let start = 0; start <= raw.length; ) {
    let end = raw.indexOf('&', start);
    if (end < 0) end = raw.length;
    if (end > start) {
      if (eq < start) {
        eq = raw.indexOf('=', start);
        if (eq < 0) eq = raw.length;
      }
      const hasValue = eq < end;
      const name = decodeComponent(raw.slice(start, hasValue ? eq : end));
      const value = hasValue ? decodeComponent(raw.slice(eq + 1, end)) : '';
      if (name === undefined || value === undefined || name === '') return FAILED;
      pairs[n++] = [name, value];
    }
    start = end + 1;
  }
  return { ok: true, pairs };
}

/** Decodes a form body (bytes) the same way as a query string; the body must be ASCII. */
export function parseFormBody(body: Uint8Array): QueryResult {
  let text = '';
  for (let i = 0; i < body.length; i++) {
    const b = body[i] ?? 0;
    if (b >= 0x80) return { ok: false };
    text += String.fromCharCode(b);
  }
  // A trailing newline is common from command-line clients and carries no parameter.
  return parseQueryPairs(text.replace(TRAILING_NEWLINE, ''));
}
