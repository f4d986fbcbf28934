/**
 * JWT access-token verification. Order matters and is the point of this file:
 *   1. structure and protected header, parsed by us, strictly (compact.ts) — no crypto yet;
 *   2. `iss` read from the unverified payload only to pick a pinned issuer by exact match
 *      (unknown → denied, nothing fetched);
 *   3. the issuer's algorithm allowlist and `typ` rule;
 *   4. the key for the header's `kid` and `alg` from that issuer's key store only (a key checked
 *      for that one algorithm when it was imported), then the signature over the header and
 *      payload segments step 1 parsed (signature.ts);
 *   5. the registered claims on the payload parsed in step 1 — the payload the signature covers —
 *      (iss, aud, exp, nbf with bounded skew), our own lifetime and `iat` rules, then the claims →
 *      Principal mapping.
 */
import type { Clock } from '../core/clock.ts';
import type { Principal } from '../core/principal.ts';
import type { ReasonCode } from '../core/reasons.ts';
import { checkHeaderPolicy, parseCompactJws } from './compact.ts';
import type { ResolvedIssuerConfig } from './config.ts';
import type { KeyStore } from './jwks.ts';
import { buildPrincipal } from './principal.ts';
import { verifyJws } from './signature.ts';

/** An issuer that verifies JWTs: its config and its key store. */
export interface JwtIssuer {
  readonly config: ResolvedIssuerConfig;
  readonly keys: KeyStore;
}

export type JwtResult =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly reason: ReasonCode; readonly retryAfterSeconds?: number };

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

  const lookup = await issuer.keys.resolve(jws.kid, jws.alg);
  if (!lookup.ok) {
    const { reason, retryAfterSeconds } = lookup;
    return retryAfterSeconds === undefined ? { ok: false, reason } : { ok: false, reason, retryAfterSeconds };
  }
  // The signature is verified over the very segments step 1 parsed, so the claims checked below
  // are the claims it covers, and nothing is decoded twice: the signing input is the header and
  // payload segments' text (canonical base64url, so ASCII, so its latin1 bytes are its ASCII
  // bytes). `b64: false` and `crit`, which could change what is signed, were refused by the parser.
  const signingInput = Buffer.from(jws.signingInput, 'latin1');
  const signature = Buffer.from(jws.signature, 'base64url'); // canonical: checked by the parser
  if (!verifyJws(lookup.key, jws.alg, signingInput, signature)) return { ok: false, reason: 'token_signature_invalid' };
  const claims = jws.unverifiedClaims;

  const nowMs = clock.now();
  const claimProblem = checkRegisteredClaims(claims, Math.floor(nowMs / 1000), cfg);
  if (claimProblem !== undefined) return { ok: false, reason: claimProblem };
  const timeProblem = checkTimes(claims, nowMs / 1000, cfg);
  if (timeProblem !== undefined) return { ok: false, reason: timeProblem };
  return buildPrincipal(claims, 'jwt', cfg.issuer, cfg.claims);
}

/**
 * The registered-claim rules of RFC 7519 §4.1 for an access token (RFC 9068 §4), the ones jose's
 * `jwtVerify` applied for us before, in its order (so a token with several problems gets the same
 * reason code it always got). `nowSeconds` is whole seconds, as jose compares.
 *   - `iss`, `aud` and `exp` are required;
 *   - `iss` is exactly this issuer's identifier (it already picked the issuer; this keeps the
 *     rule true whatever map the caller passed);
 *   - `aud` is a string naming one of our audiences, or an array with a string member that does
 *     (RFC 7519 §4.1.3; the other members' types are checked when the Principal is built);
 *   - `iat`, `nbf` and `exp`, when present, are numbers;
 *   - `nbf` is not after now + skew; `exp` is after now − skew.
 */
export function checkRegisteredClaims(
  claims: Readonly<Record<string, unknown>>,
  nowSeconds: number,
  cfg: Pick<ResolvedIssuerConfig, 'issuer' | 'audiences' | 'clockSkewSeconds'>,
): ReasonCode | undefined {
  if (!Object.hasOwn(claims, 'iss')) return 'token_claims_invalid';
  if (!Object.hasOwn(claims, 'aud')) return 'token_audience_mismatch';
  if (!Object.hasOwn(claims, 'exp')) return 'token_claims_invalid';
  if (claims['iss'] !== cfg.issuer) return 'token_issuer_unknown';
  if (!namesAudience(claims['aud'], cfg.audiences)) return 'token_audience_mismatch';
  const { iat, nbf, exp } = claims;
  if (iat !== undefined && typeof iat !== 'number') return 'token_claims_invalid';
  if (nbf !== undefined && typeof nbf !== 'number') return 'token_claims_invalid';
  if (typeof nbf === 'number' && nbf > nowSeconds + cfg.clockSkewSeconds) return 'token_not_yet_valid';
  if (typeof exp !== 'number') return 'token_claims_invalid';
  if (exp <= nowSeconds - cfg.clockSkewSeconds) return 'token_expired';
  return undefined;
}

function namesAudience(aud: unknown, ours: readonly string[]): boolean {
  if (typeof aud === 'string') return ours.includes(aud);
  return Array.isArray(aud) && aud.some((a) => typeof a === 'string' && ours.includes(a));
}

/**
 * Checks jose never made: `iat` must not be in the future beyond the skew, and the token's
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
