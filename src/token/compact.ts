/**
 * Strict parsing of a JWS Compact Serialization before any key lookup or crypto: exactly three
 * canonical base64url segments, UTF-8 JSON objects without duplicate names, and a protected
 * header that names an allowed algorithm and nothing that would make us fetch or trust a key
 * from the token itself (RFC 8725 §2.x / §3.1).
 */
import type { ReasonCode } from '../core/reasons.ts';
import { decodeUtf8Strict, parseStrictJsonObject } from './json-strict.ts';
import { BoundedMemo } from './memo.ts';

export interface ParsedJws {
  readonly header: Readonly<Record<string, unknown>>;
  readonly alg: string;
  readonly kid: string | undefined;
  /** Claims as decoded, NOT yet verified: only `iss` may be read, to pick the issuer. */
  readonly unverifiedClaims: Readonly<Record<string, unknown>>;
  /** The payload segment's bytes that `unverifiedClaims` was parsed from. */
  readonly payloadBytes: Uint8Array;
  /** The JWS Signing Input: the header and payload segments as they are in the token, '.' between. */
  readonly signingInput: string;
  /** The signature segment, canonical base64url (not decoded). */
  readonly signature: string;
}

export type ParseResult =
  | { readonly ok: true; readonly jws: ParsedJws }
  | { readonly ok: false; readonly reason: ReasonCode };

export interface HeaderPolicy {
  readonly algorithms: readonly string[];
  /** When defined, `typ` must be present and match one of these. */
  readonly allowedTyp: readonly string[] | undefined;
}

/** Key ids are opaque labels; anything outside this set (paths, quotes, spaces) is refused. */
export const KID_PATTERN = /^[A-Za-z0-9._~+=:-]{1,128}$/;
/** Header parameters that point at or embed keys; never used, so their presence is refused. */
const KEY_BEARING_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;

const B64URL = /^[A-Za-z0-9_-]*$/;
const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * True when `seg` is the one and only unpadded base64url spelling of the bytes it encodes (RFC
 * 4648 §3.5, §5), so a token has exactly one spelling: base64url alphabet only (no padding), a
 * length that is not 1 mod 4, and zeros in the low bits of the last character that encode no
 * byte (4 bits when the length is 2 mod 4, 2 bits when 3 mod 4). Decodes nothing. '' is canonical.
 */
export function isCanonicalBase64url(seg: string): boolean {
  const rem = seg.length % 4;
  if (rem === 1 || !B64URL.test(seg)) return false;
  if (rem === 0) return true;
  const last = B64URL_ALPHABET.indexOf(seg.charAt(seg.length - 1));
  return (last & (rem === 2 ? 0x0f : 0x03)) === 0;
}

/**
 * Decodes one canonical base64url segment, undefined when not canonical. For a segment we decode
 * anyway the round trip is the exact check and the cheapest one (native code both ways): Node's
 * decoder is lenient (skips junk, takes '+' '/' '=' and stray bits), but its encoder writes the
 * one canonical spelling, so any leniency used shows up as a difference.
 */
export function decodeSegment(seg: string): Uint8Array | undefined {
  const bytes = Buffer.from(seg, 'base64url');
  return bytes.toString('base64url') === seg ? bytes : undefined;
}

function decodeJsonSegment(bytes: Uint8Array): Record<string, unknown> | undefined {
  const text = decodeUtf8Strict(bytes);
  return text === undefined ? undefined : parseStrictJsonObject(text);
}

/** A protected header as parsed, and what the issuer-independent header rules say of it. */
interface CheckedHeader {
  readonly header: Readonly<Record<string, unknown>>;
  readonly problem: ReasonCode | undefined;
}

/**
 * Checked headers by segment text. Every token an issuer signs with one key carries the same
 * header segment, and parsing and checkHeader are pure functions of that text, so a hit is
 * exactly what doing both again would give (tokens share the header object, so it is frozen;
 * nothing writes to a parsed header anyway). checkHeaderPolicy still runs for every token.
 */
const checkedHeaders = new BoundedMemo<CheckedHeader>(64, 512);

/**
 * The header segment parsed (canonical base64url → strict UTF-8 → duplicate-free JSON object)
 * and checked by checkHeader; undefined when it does not parse.
 */
function checkedHeader(h: string): CheckedHeader | undefined {
  const known = checkedHeaders.get(h);
  if (known !== undefined) return known;
  const bytes = decodeSegment(h);
  const header = bytes === undefined ? undefined : decodeJsonSegment(bytes);
  if (header === undefined) return undefined;
  const checked: CheckedHeader = Object.freeze({ header: Object.freeze(header), problem: checkHeader(header) });
  checkedHeaders.set(h, checked);
  return checked;
}

/** Parses the token's structure and protected header without trusting anything it says. */
export function parseCompactJws(token: string): ParseResult {
  const parts = token.split('.');
  if (parts.length === 5) return fail('token_header_rejected'); // JWE: encrypted tokens are not accepted
  if (parts.length !== 3) return fail('token_malformed');
  const [h, p, s] = parts as [string, string, string];
  if (h === '' || p === '' || s === '') return fail('token_malformed');
  // The signature is only checked for canonical spelling here; jwt.ts decodes and verifies it.
  if (!isCanonicalBase64url(s)) return fail('token_malformed');
  const checked = checkedHeader(h);
  if (checked === undefined) return fail('token_malformed');
  const payloadBytes = decodeSegment(p);
  if (payloadBytes === undefined) return fail('token_malformed');

  if (checked.problem !== undefined) return fail(checked.problem);
  const { header } = checked;

  const claims = decodeJsonSegment(payloadBytes);
  if (claims === undefined) return fail('token_malformed');
  return {
    ok: true,
    jws: {
      header,
      alg: header['alg'] as string,
      kid: header['kid'] as string | undefined,
      unverifiedClaims: claims,
      payloadBytes,
      signingInput: token.slice(0, h.length + 1 + p.length),
      signature: s,
    },
  };
}

/** Structural header checks that do not depend on the issuer. */
function checkHeader(header: Readonly<Record<string, unknown>>): ReasonCode | undefined {
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
