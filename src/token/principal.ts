/**
 * Verified claims → Principal. Types are checked strictly: a claim of the wrong type is not
 * "absent", it is an invalid token (a `scope` that is a number or an array could otherwise be
 * read differently here and by the issuer's other resource servers).
 */
import type { Principal } from '../core/principal.ts';
import type { ResolvedClaimMapping } from './config.ts';
import { BoundedMemo } from './memo.ts';

export type PrincipalResult =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly reason: 'token_claims_invalid' };

const MAX_SCOPES = 256;
/** Shared by every principal without scopes, audience, roles or launch context (frozen: no one can add to it). */
const NONE: readonly never[] = Object.freeze([]);
/**
 * Frozen lists by claim text: the scopes of a `scope` string, the one-element audience of an
 * `aud` string. Every token a client gets usually carries the same ones, so principals share one
 * list instead of each holding a copy (a cached principal is then that much less for the garbage
 * collector to copy and mark).
 */
const scopeLists = new BoundedMemo<readonly string[]>(256, 2048);
const audienceLists = new BoundedMemo<readonly string[]>(64, 512);

const THUMBPRINT = /^[A-Za-z0-9_-]{43}$/;

class InvalidClaim extends Error {}

/** Reads a dot path (`realm_access.roles`) through own properties only, never the prototype chain. */
export function claimAt(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  // The usual case, a top-level claim name: no path to split.
  if (!path.includes('.')) return Object.hasOwn(claims, path) ? claims[path] : undefined;
  let cur: unknown = claims;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur) || !Object.hasOwn(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function optString(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new InvalidClaim();
  return v;
}

function optNumber(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidClaim();
  return v;
}

function stringArray(v: unknown): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new InvalidClaim();
  return v as string[];
}

function scopesOf(claims: Readonly<Record<string, unknown>>): readonly string[] {
  const scope = claims['scope'];
  if (scope !== undefined) {
    if (typeof scope !== 'string') throw new InvalidClaim();
    return scopeList(scope);
  }
  if (claims['scp'] === undefined) return NONE;
  const out = stringArray(claims['scp']);
  if (out.length > MAX_SCOPES || out.some((s) => s === '' || s.includes(' '))) throw new InvalidClaim();
  return Object.freeze(out);
}

/** A space-separated `scope` claim as a frozen list; runs of spaces separate nothing. */
function scopeList(scope: string): readonly string[] {
  const known = scopeLists.get(scope);
  if (known !== undefined) return known;
  const parts = scope.split(' ');
  const list = parts.includes('') ? parts.filter((s) => s !== '') : parts;
  if (list.length > MAX_SCOPES) throw new InvalidClaim();
  const frozen = Object.freeze(list);
  scopeLists.set(scope, frozen);
  return frozen;
}

/** Where the OAuth client id may be, in order of preference. */
const CLIENT_ID_CLAIMS = ['client_id', 'azp', 'cid'] as const;

function clientIdOf(claims: Readonly<Record<string, unknown>>): string {
  for (const name of CLIENT_ID_CLAIMS) {
    const v = optString(claims[name]);
    if (v !== undefined) return v;
  }
  return '';
}

function audienceOf(v: unknown): readonly string[] {
  if (v === undefined) return NONE;
  if (typeof v !== 'string') return stringArray(v);
  const known = audienceLists.get(v);
  if (known !== undefined) return known;
  const list = Object.freeze([v]);
  audienceLists.set(v, list);
  return list;
}

function thumbprintOf(cnf: unknown): string | undefined {
  if (cnf === undefined) return undefined;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) throw new InvalidClaim();
  const t = (cnf as Record<string, unknown>)['x5t#S256'];
  if (t === undefined) return undefined;
  if (typeof t !== 'string' || !THUMBPRINT.test(t)) throw new InvalidClaim();
  return t;
}

/**
 * Builds the Principal from claims that were already verified (JWT) or returned by the issuer
 * (introspection). `expiresAt` must have been checked by the caller. Never throws.
 */
export function buildPrincipal(
  claims: Readonly<Record<string, unknown>>,
  kind: Principal['tokenKind'],
  issuer: string,
  mapping: ResolvedClaimMapping,
): PrincipalResult {
  try {
    const exp = optNumber(claims['exp']);
    if (exp === undefined) throw new InvalidClaim();
    const fhirContext = claimAt(claims, 'fhirContext');
    if (fhirContext !== undefined && !Array.isArray(fhirContext)) throw new InvalidClaim();
    const roles = claimAt(claims, mapping.roles);
    const principal: Principal = {
      tokenKind: kind,
      issuer,
      subject: optString(claims['sub']) ?? '',
      clientId: clientIdOf(claims),
      audience: audienceOf(claims['aud']),
      scopes: scopesOf(claims),
      jti: optString(claims['jti']) ?? '',
      expiresAt: exp,
      issuedAt: optNumber(claims['iat']),
      patient: optString(claimAt(claims, mapping.patient)),
      encounter: optString(claimAt(claims, mapping.encounter)),
      fhirContext: (fhirContext as unknown[] | undefined) ?? NONE,
      fhirUser: optString(claimAt(claims, mapping.fhirUser)),
      roles: roles === undefined ? NONE : stringArray(roles),
      certThumbprint: thumbprintOf(claims['cnf']),
      claims: Object.freeze({ ...claims }),
    };
    return { ok: true, principal: Object.freeze(principal) };
  } catch {
    return { ok: false, reason: 'token_claims_invalid' };
  }
}
