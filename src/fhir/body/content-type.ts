/**
 * Content-Type parsing for request bodies (RFC 9110 §8.3.1 media types).
 *
 * The gate and the FHIR server must agree on how a body is read, so the accepted header grammar is
 * deliberately narrow: one `type/subtype`, then only the parameters FHIR R4 defines for its media
 * types — `charset` (which must be UTF-8, the only encoding FHIR JSON allows) and `fhirVersion`
 * (which must name R4, `4.0`). Any other parameter, a repeated parameter, or a header that does not
 * parse is refused rather than guessed at.
 */

export interface MediaType {
  /** `type/subtype`, lower-cased. */
  readonly type: string;
  /** Declared charset, lower-cased, when present. */
  readonly charset: string | undefined;
}

export type ContentTypeResult =
  | { readonly ok: true; readonly media: MediaType }
  | { readonly ok: false; readonly detail: string };

/** RFC 9110 `token`. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Longest header we bother to parse; real Content-Type values are a few dozen characters. */
const MAX_LENGTH = 256;

/** Splits `s` on `;` outside quoted strings; undefined when a quote is left open. */
function splitParams(s: string): string[] | undefined {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? '';
    if (quoted) {
      if (c === '\\') {
        cur += c + (s[i + 1] ?? '');
        i++;
        continue;
      }
      if (c === '"') quoted = false;
      cur += c;
      continue;
    }
    if (c === '"') quoted = true;
    if (c === ';') {
      parts.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  if (quoted) return undefined;
  parts.push(cur);
  return parts;
}

/** A parameter value: a token, or a quoted-string with its escapes removed. */
function paramValue(raw: string): string | undefined {
  if (TOKEN.test(raw)) return raw;
  const m = /^"((?:[^"\\]|\\.)*)"$/.exec(raw);
  if (m === null) return undefined;
  return (m[1] ?? '').replace(/\\(.)/g, '$1');
}

/** Parses and vets a Content-Type header value. */
export function parseContentType(header: string | undefined): ContentTypeResult {
  if (header === undefined || header.trim() === '') return { ok: false, detail: 'Content-Type missing' };
  if (header.length > MAX_LENGTH) return { ok: false, detail: 'Content-Type too long' };
  const parts = splitParams(header);
  if (parts === undefined) return { ok: false, detail: 'Content-Type has an unterminated quoted string' };
  const [first = '', ...params] = parts;
  const slash = first.trim().split('/');
  if (slash.length !== 2 || !TOKEN.test(slash[0] ?? '') || !TOKEN.test(slash[1] ?? '')) {
    return { ok: false, detail: 'Content-Type is not a media type' };
  }
  const type = first.trim().toLowerCase();
  const seen = new Set<string>();
  let charset: string | undefined;
  for (const p of params) {
    const eq = p.indexOf('=');
    const name = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : paramValue(p.slice(eq + 1).trim());
    if (!TOKEN.test(name) || value === undefined) return { ok: false, detail: 'Content-Type has a malformed parameter' };
    if (seen.has(name)) return { ok: false, detail: 'Content-Type repeats a parameter' };
    seen.add(name);
    if (name === 'charset') {
      charset = value.toLowerCase();
      if (charset !== 'utf-8') return { ok: false, detail: 'charset other than utf-8' };
    } else if (name === 'fhirversion') {
      if (value !== '4.0') return { ok: false, detail: 'fhirVersion other than 4.0' };
    } else {
      return { ok: false, detail: 'Content-Type has a parameter other than charset and fhirVersion' };
    }
  }
  return { ok: true, media: { type, charset } };
}
