/**
 * JWT access-token verification. Order matters and is the point of this file:
 *   1. structure and protected header, parsed by us, strictly (compact.ts) — no crypto yet;
 *   2. `iss` read from the unverified payload only to pick a pinned issuer by exact match
 *      (unknown → denied, nothing fetched);
 *   3. the issuer's algorithm allowlist and `typ` rule;
 *   4. signature with that issuer's keys only (jose `jwtVerify` over our key store), then the
 *      registered claims (iss, aud, exp, nbf with bounded skew);
 *   5. our own lifetime and `iat` rules, then the claims → Principal mapping.
 */
import { jwtVerify } from 'jose';
import type { JWTVerifyGetKey } from 'jose';
import type { Clock } from '../core/clock.ts';
import type { Principal } from '../core/principal.ts';
import type { ReasonCode } from '../core/reasons.ts';
import { checkHeaderPolicy, parseCompactJws } from './compact.ts';
import type { ResolvedIssuerConfig } from './config.ts';
import { reasonForJoseError } from './jose-errors.ts';
import type { KeyLookup, KeyStore } from './jwks.ts';
import { buildPrincipal } from './principal.ts';

/** An issuer that verifies JWTs: its config and its key store. */
export interface JwtIssuer {
  readonly config: ResolvedIssuerConfig;
  readonly keys: KeyStore;
}

export type JwtResult =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly reason: ReasonCode; readonly retryAfterSeconds?: number };

/** Thrown inside the key resolver to carry our own lookup result out of jose. */
class KeyLookupFailed extends Error {
  readonly lookup: Extract<KeyLookup, { ok: false }>;
  constructor(lookup: Extract<KeyLookup, { ok: false }>) {
    super('key lookup failed');
    this.lookup = lookup;
  }
}

export async function verifyJwt(
  token: string,
  issuers: ReadonlyMap<string, JwtIssuer>,
  clock: Clock,
): Promise<JwtResult> {
  const parsed = parseCompactJws(token);
  if (!parsed.ok) return parsed;
  const { jws } = parsed;
  const iss = jws.unverifiedClaims['iss'];
  if (typeof iss !== 'string') return { ok: false, reason: 'token_claims_invalid' };
  // Map.get on an own-keyed Map: no prototype lookups, exact string match.
  const issuer = issuers.get(iss);
  if (issuer === undefined) return { ok: false, reason: 'token_issuer_unknown' };
  const cfg = issuer.config;
  const headerProblem = checkHeaderPolicy(jws, cfg);
  if (headerProblem !== undefined) return { ok: false, reason: headerProblem };

  const nowMs = clock.now();
  const getKey: JWTVerifyGetKey = async (header) => {
    const lookup = await issuer.keys.resolve(header.kid, header.alg ?? '');
    if (!lookup.ok) throw new KeyLookupFailed(lookup);
    return lookup.key;
  };
  let payload: Record<string, unknown>;
  try {
    const verified = await jwtVerify(token, getKey, {
      algorithms: [...cfg.algorithms],
      issuer: cfg.issuer,
      audience: [...cfg.audiences],
      clockTolerance: cfg.clockSkewSeconds,
      requiredClaims: ['exp'],
      currentDate: new Date(nowMs),
    });
    payload = verified.payload as Record<string, unknown>;
  } catch (err) {
    if (err instanceof KeyLookupFailed) {
      const { reason, retryAfterSeconds } = err.lookup;
      return retryAfterSeconds === undefined ? { ok: false, reason } : { ok: false, reason, retryAfterSeconds };
    }
    return { ok: false, reason: reasonForJoseError(err) };
  }

  const timeProblem = checkTimes(payload, nowMs / 1000, cfg);
  if (timeProblem !== undefined) return { ok: false, reason: timeProblem };
  return buildPrincipal(payload, 'jwt', cfg.issuer, cfg.claims);
}

/**
 * Checks jose does not make: `iat` must not be in the future beyond the skew, and the token's
 * lifetime, measured from `iat` (else `nbf`, else now), must not exceed the issuer's maximum.
 */
export function checkTimes(
  claims: Readonly<Record<string, unknown>>,
  nowSeconds: number,
  cfg: Pick<ResolvedIssuerConfig, 'clockSkewSeconds' | 'maxLifetimeSeconds'>,
): ReasonCode | undefined {
  const exp = claims['exp'];
  const iat = claims['iat'];
  const nbf = claims['nbf'];
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'token_claims_invalid';
  if (iat !== undefined && (typeof iat !== 'number' || !Number.isFinite(iat))) return 'token_claims_invalid';
  if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf))) return 'token_claims_invalid';
  if (typeof iat === 'number' && iat > nowSeconds + cfg.clockSkewSeconds) return 'token_not_yet_valid';
  const start = typeof iat === 'number' ? iat : typeof nbf === 'number' ? nbf : nowSeconds;
  if (exp - start > cfg.maxLifetimeSeconds) return 'token_lifetime_exceeded';
  // A backdated iat cannot stretch validity: the remaining lifetime is bounded too.
  if (exp - nowSeconds > cfg.maxLifetimeSeconds + cfg.clockSkewSeconds) return 'token_lifetime_exceeded';
  return undefined;
}
