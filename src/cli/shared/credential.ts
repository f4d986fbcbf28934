/**
 * Who the CLI's request is from. The sidecar's authenticate phase is a port (AuthenticatePort);
 * the CLI plugs in one of three sources:
 *
 *   claims     an already-verified claim set → Principal through buildPrincipal (the sidecar's own
 *              claims → Principal step), with the claim mapping of `--auth-config` when given;
 *   token      with an auth config: the sidecar's real Authenticator (signature, issuer, audience,
 *              lifetime, JWKS fetch); without one: the JWT's claims decoded WITHOUT verification,
 *              reported as `verified: false`;
 *   none       no credential: the sidecar would answer credential_missing, and so does the CLI.
 *
 * The raw token never leaves this module except inside the Authorization header of the request.
 */
import type { Clock } from '../../core/clock.ts';
import type { AuthenticatePort } from '../../authz/pipeline.ts';
import type { TokenConfig } from '../../token/config.ts';
import { TOKEN_DEFAULTS } from '../../token/config.ts';
import type { ResolvedClaimMapping } from '../../token/config.ts';
import { Authenticator } from '../../token/authenticator.ts';
import { parseCompactJws } from '../../token/compact.ts';
import { buildPrincipal } from '../../token/principal.ts';
import { UsageError } from './errors.ts';

export type Credential =
  | { readonly kind: 'none' }
  | { readonly kind: 'claims'; readonly claims: Readonly<Record<string, unknown>> }
  | { readonly kind: 'token'; readonly token: string };

export interface CredentialSetup {
  readonly port: AuthenticatePort;
  /** Header lines the request must carry (the Authorization header for real verification). */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** 'claims' | 'token' | 'none', for output. */
  readonly kind: Credential['kind'];
  /** True only when the sidecar's Authenticator verified the token's signature and claims. */
  readonly verified: boolean;
  /** Lines the operator must see (e.g. "signature NOT verified"). */
  readonly warnings: readonly string[];
  close(): void;
}

/** Issuer used for a claim set that names none (the engine does not read it). */
export const CLI_ISSUER = 'urn:fhirgate:cli';
/** Lifetime given to a claim set without `exp`, so that a policy test needs no clock fiddling. */
const DEFAULT_LIFETIME_SECONDS = 3600;
export const UNVERIFIED_WARNING = 'WARNING: token signature NOT verified (no --auth-config): the claims were decoded as given';

/** The claim mapping that applies to claims from `iss`: the configured issuer's, else the defaults. */
export function claimMappingFor(auth: TokenConfig | undefined, iss: unknown): { mapping: ResolvedClaimMapping; warning?: string } {
  const issuers = auth?.issuers ?? [];
  const hit = issuers.find((i) => i.issuer === iss) ?? (issuers.length === 1 ? issuers[0] : undefined);
  if (hit === undefined) {
    return issuers.length === 0
      ? { mapping: TOKEN_DEFAULTS.claims }
      : { mapping: TOKEN_DEFAULTS.claims, warning: 'no issuer in --auth-config matches the claims\' "iss": default claim mapping used' };
  }
  const warning = hit.issuer !== iss ? `claims' "iss" is not ${hit.issuer}: its claim mapping is used anyway` : undefined;
  return { mapping: { ...TOKEN_DEFAULTS.claims, ...hit.claims }, ...(warning !== undefined ? { warning } : {}) };
}

/** A port that answers every request with the same principal (or the same failure). */
function fixedPort(claims: Readonly<Record<string, unknown>>, kind: 'jwt' | 'opaque', mapping: ResolvedClaimMapping, clock: Clock): AuthenticatePort {
  const filled: Record<string, unknown> = { ...claims };
  if (filled['exp'] === undefined) filled['exp'] = Math.floor(clock.now() / 1000) + DEFAULT_LIFETIME_SECONDS;
  const iss = typeof claims['iss'] === 'string' ? claims['iss'] : CLI_ISSUER;
  const built = buildPrincipal(filled, kind, iss, mapping);
  return { authenticate: () => Promise.resolve(built.ok ? { ok: true, principal: built.principal } : { ok: false, reason: built.reason }) };
}

export interface CredentialOptions {
  readonly auth: TokenConfig | undefined;
  readonly clock: Clock;
  /** For the real Authenticator (tests inject one); default global fetch. */
  readonly fetch?: typeof fetch;
}

export async function setUpCredential(cred: Credential, opts: CredentialOptions): Promise<CredentialSetup> {
  const base = { headers: [] as Array<readonly [string, string]>, kind: cred.kind, verified: false, close: () => undefined };
  if (cred.kind === 'none') {
    return { ...base, warnings: [], port: { authenticate: () => Promise.resolve({ ok: false, reason: 'credential_missing' }) } };
  }
  if (cred.kind === 'claims') {
    const m = claimMappingFor(opts.auth, cred.claims['iss']);
    return { ...base, warnings: m.warning === undefined ? [] : [m.warning], port: fixedPort(cred.claims, 'jwt', m.mapping, opts.clock) };
  }
  if (opts.auth !== undefined) {
    const authn = new Authenticator(opts.auth, { clock: opts.clock, ...(opts.fetch !== undefined ? { fetch: opts.fetch } : {}) });
    await authn.start();
    return { ...base, verified: true, warnings: [], headers: [['authorization', `Bearer ${cred.token}`]], port: authn, close: () => authn.close() };
  }
  if (!cred.token.includes('.')) throw new UsageError('an opaque token can only be checked by introspection: pass --auth-config');
  const parsed = parseCompactJws(cred.token);
  if (!parsed.ok) {
    const reason = parsed.reason;
    return { ...base, warnings: [UNVERIFIED_WARNING], port: { authenticate: () => Promise.resolve({ ok: false, reason }) } };
  }
  const claims = parsed.jws.unverifiedClaims;
  const warnings = [UNVERIFIED_WARNING];
  const exp = claims['exp'];
  if (typeof exp === 'number' && exp * 1000 <= opts.clock.now()) warnings.push('WARNING: the token has expired; the sidecar would answer token_expired');
  const m = claimMappingFor(undefined, claims['iss']);
  return { ...base, warnings, port: fixedPort(claims, 'jwt', m.mapping, opts.clock) };
}
