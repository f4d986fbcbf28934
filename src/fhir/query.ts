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

export type QueryPair = readonly [name: string, value: string];

export type QueryResult = { readonly ok: true; readonly pairs: readonly QueryPair[] } | { readonly ok: false };

/** Hard cap on pairs in one request; far above real FHIR searches, low enough to bound work. */
export const MAX_QUERY_PAIRS = 256;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Percent-decodes one component. Returns undefined for a malformed escape, invalid UTF-8, a raw
 * character outside printable ASCII, `#`, or a decoded control character.
 */
export function decodeComponent(s: string): string | undefined {
  if (!/[%+]/.test(s)) {
    // Fast path (most names and many values): nothing to decode, only characters to check.
    return /^[\x21-\x22\x24-\x7e]*$/.test(s) ? s : undefined;
  }
  const bytes = new Uint8Array(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return undefined;
      bytes[n++] = hi * 16 + lo;
      i += 2;
    } else if (c === 0x2b) {
      bytes[n++] = 0x20;
    } else if (c <= 0x20 || c >= 0x7f || c === 0x23) {
      return undefined;
    } else {
      bytes[n++] = c;
    }
  }
  let out: string;
  try {
    out = utf8.decode(bytes.subarray(0, n));
  } catch {
    return undefined;
  }
  // Decoded control characters (NUL, CR, LF, …) have no business in a FHIR search value.
  for (let i = 0; i < out.length; i++) {
    const c = out.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return undefined;
  }
  return out;
}

/**
 * Splits `raw` on `&` and each piece on its first `=`; empty pieces (`a=1&&b=2`) are skipped, as
 * every server does. A piece without `=` is a name with an empty value.
 */
export function parseQueryPairs(raw: string): QueryResult {
  const pairs: QueryPair[] = [];
  if (raw === '') return { ok: true, pairs };
  const pieces = raw.split('&');
  if (pieces.length > MAX_QUERY_PAIRS * 4) return { ok: false };
  for (const piece of pieces) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const rawName = eq < 0 ? piece : piece.slice(0, eq);
    const rawValue = eq < 0 ? '' : piece.slice(eq + 1);
    const name = decodeComponent(rawName);
    const value = decodeComponent(rawValue);
    if (name === undefined || value === undefined || name === '') return { ok: false };
    pairs.push([name, value]);
    if (pairs.length > MAX_QUERY_PAIRS) return { ok: false };
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
  return parseQueryPairs(text.replace(/\r?\n$/, ''));
}
