/**
 * Strict parsing of a JWS Compact Serialization before any key lookup or crypto: exactly three
 * canonical base64url segments, UTF-8 JSON objects without duplicate names, and a protected
 * header that names an allowed algorithm and nothing that would make us fetch or trust a key
 * from the token itself (RFC 8725 §2.x / §3.1).
 */
import type { ReasonCode } from '../core/reasons.ts';
import { decodeUtf8Strict, parseStrictJsonObject } from './json-strict.ts';

export interface ParsedJws {
  readonly header: Readonly<Record<string, unknown>>;
  readonly alg: string;
  readonly kid: string | undefined;
  /** Claims as decoded, NOT yet verified: only `iss` may be read, to pick the issuer. */
  readonly unverifiedClaims: Readonly<Record<string, unknown>>;
}

export type ParseResult =
  | { readonly ok: true; readonly jws: ParsedJws }
  | { readonly ok: false; readonly reason: ReasonCode };

export interface HeaderPolicy {
  readonly algorithms: readonly string[];
  /** When defined, `typ` must be present and match one of these. */
  readonly allowedTyp: readonly string[] | undefined;
}

const B64URL = /^[A-Za-z0-9_-]*$/;
/** Key ids are opaque labels; anything outside this set (paths, quotes, spaces) is refused. */
export const KID_PATTERN = /^[A-Za-z0-9._~+=:-]{1,128}$/;
/** Header parameters that point at or embed keys; never used, so their presence is refused. */
const KEY_BEARING_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;

/** Decodes one canonical base64url segment, undefined when not canonical. */
export function decodeSegment(seg: string): Uint8Array | undefined {
  if (!B64URL.test(seg) || seg.length % 4 === 1) return undefined;
  const bytes = Buffer.from(seg, 'base64url');
  // Reject non-canonical encodings (stray low bits) so one token has exactly one spelling.
  if (bytes.toString('base64url') !== seg) return undefined;
  return bytes;
}

function decodeJsonSegment(seg: string): Record<string, unknown> | undefined {
  if (seg === '') return undefined;
  const bytes = decodeSegment(seg);
  if (bytes === undefined) return undefined;
  const text = decodeUtf8Strict(bytes);
  return text === undefined ? undefined : parseStrictJsonObject(text);
}

/** Parses the token's structure and protected header without trusting anything it says. */
export function parseCompactJws(token: string): ParseResult {
  const parts = token.split('.');
  if (parts.length === 5) return fail('token_header_rejected'); // JWE: encrypted tokens are not accepted
  if (parts.length !== 3) return fail('token_malformed');
  const [h, p, s] = parts as [string, string, string];
  if (s === '' || decodeSegment(s) === undefined) return fail('token_malformed');
  const header = decodeJsonSegment(h);
  if (header === undefined) return fail('token_malformed');
  const payloadBytes = p === '' ? undefined : decodeSegment(p);
  if (payloadBytes === undefined) return fail('token_malformed');

  const headerCheck = checkHeader(header);
  if (headerCheck !== undefined) return fail(headerCheck);

  const text = decodeUtf8Strict(payloadBytes);
  const claims = text === undefined ? undefined : parseStrictJsonObject(text);
  if (claims === undefined) return fail('token_malformed');
  return {
    ok: true,
    jws: { header, alg: header['alg'] as string, kid: header['kid'] as string | undefined, unverifiedClaims: claims },
  };
}

/** Structural header checks that do not depend on the issuer. */
function checkHeader(header: Record<string, unknown>): ReasonCode | undefined {
  const alg = header['alg'];
  if (typeof alg !== 'string' || alg.length === 0 || alg.length > 16) return 'token_header_rejected';
  if (alg.toLowerCase() === 'none') return 'token_header_rejected';
  if (Object.hasOwn(header, 'crit')) return 'token_header_rejected';
  if (Object.hasOwn(header, 'b64')) return 'token_header_rejected';
  for (const name of KEY_BEARING_HEADERS) if (Object.hasOwn(header, name)) return 'token_header_rejected';
  // A content type (RFC 7519 §5.2 `cty: JWT`) means a nested token; we accept plain claim sets only.
  if (Object.hasOwn(header, 'cty')) return 'token_header_rejected';
  if (Object.hasOwn(header, 'enc') || Object.hasOwn(header, 'zip')) return 'token_header_rejected';
  if (Object.hasOwn(header, 'kid')) {
    const kid = header['kid'];
    if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) return 'token_header_rejected';
  }
  if (Object.hasOwn(header, 'typ') && typeof header['typ'] !== 'string') return 'token_header_rejected';
  return undefined;
}

/** Issuer-specific header checks: the algorithm allowlist and the `typ` values. */
export function checkHeaderPolicy(jws: ParsedJws, policy: HeaderPolicy): ReasonCode | undefined {
  if (!policy.algorithms.includes(jws.alg)) return 'token_header_rejected';
  if (policy.allowedTyp !== undefined) {
    const typ = jws.header['typ'];
    if (typeof typ !== 'string' || !policy.allowedTyp.some((t) => sameMediaType(t, typ))) {
      return 'token_header_rejected';
    }
  }
  return undefined;
}

/** RFC 7515 §4.1.9: `typ` is a media type compared case-insensitively, `application/` optional. */
function sameMediaType(a: string, b: string): boolean {
  const norm = (t: string): string => {
    const l = t.toLowerCase();
    return l.startsWith('application/') ? l.slice('application/'.length) : l;
  };
  return norm(a) === norm(b);
}

function fail(reason: ReasonCode): ParseResult {
  return { ok: false, reason };
}
