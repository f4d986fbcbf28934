/**
 * Verified claims → Principal. Types are checked strictly: a claim of the wrong type is not
 * "absent", it is an invalid token (a `scope` that is a number or an array could otherwise be
 * read differently here and by the issuer's other resource servers).
 */
import type { Principal } from '../core/principal.ts';
import type { ResolvedClaimMapping } from './config.ts';

export type PrincipalResult =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly reason: 'token_claims_invalid' };

const MAX_SCOPES = 256;
const THUMBPRINT = /^[A-Za-z0-9_-]{43}$/;

class InvalidClaim extends Error {}

/** Reads a dot path (`realm_access.roles`) through own properties only, never the prototype chain. */
export function claimAt(claims: Readonly<Record<string, unknown>>, path: string): unknown {
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

function scopesOf(claims: Readonly<Record<string, unknown>>): string[] {
  const scope = claims['scope'];
  let out: string[];
  if (scope !== undefined) {
    if (typeof scope !== 'string') throw new InvalidClaim();
    out = scope.split(' ').filter((s) => s !== '');
  } else if (claims['scp'] !== undefined) {
    out = stringArray(claims['scp']);
    if (out.some((s) => s === '' || s.includes(' '))) throw new InvalidClaim();
  } else {
    out = [];
  }
  if (out.length > MAX_SCOPES) throw new InvalidClaim();
  return out;
}

function clientIdOf(claims: Readonly<Record<string, unknown>>): string {
  for (const name of ['client_id', 'azp', 'cid'] as const) {
    const v = optString(claims[name]);
    if (v !== undefined) return v;
  }
  return '';
}

function audienceOf(v: unknown): string[] {
  if (v === undefined) return [];
  if (typeof v === 'string') return [v];
  return stringArray(v);
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
      scopes: Object.freeze(scopesOf(claims)),
      jti: optString(claims['jti']) ?? '',
      expiresAt: exp,
      issuedAt: optNumber(claims['iat']),
      patient: optString(claimAt(claims, mapping.patient)),
      encounter: optString(claimAt(claims, mapping.encounter)),
      fhirContext: (fhirContext as unknown[] | undefined) ?? [],
      fhirUser: optString(claimAt(claims, mapping.fhirUser)),
      roles: roles === undefined ? [] : stringArray(roles),
      certThumbprint: thumbprintOf(claims['cnf']),
      claims: Object.freeze({ ...claims }),
    };
    return { ok: true, principal: Object.freeze(principal) };
  } catch {
    return { ok: false, reason: 'token_claims_invalid' };
  }
}
