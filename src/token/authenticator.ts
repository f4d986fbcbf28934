/**
 * The authenticate phase's facade: one bearer credential in, a Principal or a reason code out.
 *
 *   bearer extraction → verified-token cache → (JWT verification | introspection) → cache fill
 *   → revocation → certificate binding
 *
 * Revocation and binding run on every request, cache hits included. Tokens containing a '.'
 * are treated as JWS compact tokens (and must parse as one); tokens without one are opaque and go
 * to the first issuer configured with introspection. `authenticate` never throws: anything
 * unexpected is `internal_error` (503, fail closed).
 */
import { systemClock } from '../core/clock.ts';
import type { Clock } from '../core/clock.ts';
import type { HttpRequest } from '../core/http.ts';
import type { Principal } from '../core/principal.ts';
import type { ReasonCode } from '../core/reasons.ts';
import { isB64Token, locateBearer } from './bearer.ts';
import { checkCertificateBinding } from './binding.ts';
import { TokenCache, tokenHash } from './cache.ts';
import { hasKeySource, resolveTokenConfig } from './config.ts';
import type { ResolvedIssuerConfig, ResolvedTokenConfig, Revocations, TokenConfig } from './config.ts';
import { emit } from './events.ts';
import type { TokenEvents } from './events.ts';
import { Introspector } from './introspection.ts';
import { KeyStore } from './jwks.ts';
import { verifyJwt } from './jwt.ts';
import type { JwtIssuer } from './jwt.ts';
import { RevocationList } from './revocation.ts';
import type { MaybePromise } from '../core/maybe-async.ts';

export type AuthnResult =
  | { readonly ok: true; readonly principal: Principal; readonly cached: boolean }
  | { readonly ok: false; readonly reason: ReasonCode; readonly principal?: Principal; readonly retryAfterSeconds?: number };

export interface AuthenticatorDeps {
  readonly clock?: Clock;
  readonly fetch?: typeof fetch;
  readonly events?: TokenEvents;
  readonly random?: () => number;
}

const INTERNAL_ERROR: AuthnResult = Object.freeze({ ok: false, reason: 'internal_error' });

type Verified = { ok: true; principal: Principal; validUntilMs: number } | { ok: false; reason: ReasonCode; retryAfterSeconds?: number };

export class Authenticator {
  readonly #config: ResolvedTokenConfig;
  readonly #clock: Clock;
  readonly #events: TokenEvents;
  readonly #jwtIssuers = new Map<string, JwtIssuer>();
  readonly #issuerConfigs = new Map<string, ResolvedIssuerConfig>();
  readonly #introspector: Introspector | undefined;
  readonly #cache: TokenCache;
  readonly #revocations: RevocationList;

  /** Validates the configuration (throws TokenConfigError naming the field) and wires the stores. */
  constructor(config: TokenConfig, deps: AuthenticatorDeps = {}) {
    this.#config = resolveTokenConfig(config);
    this.#clock = deps.clock ?? systemClock;
    this.#events = deps.events ?? {};
    const fetchImpl = deps.fetch ?? globalThis.fetch.bind(globalThis);
    const random = deps.random ?? Math.random;
    for (const iss of this.#config.issuers) {
      this.#issuerConfigs.set(iss.issuer, iss);
      if (hasKeySource(iss)) {
        const keys = new KeyStore(iss, { clock: this.#clock, fetch: fetchImpl, events: this.#events, random });
        this.#jwtIssuers.set(iss.issuer, { config: iss, keys });
      }
    }
    const first = this.#config.issuers.find((i) => i.introspection !== undefined);
    this.#introspector =
      first === undefined ? undefined : new Introspector(first, { clock: this.#clock, fetch: fetchImpl, events: this.#events });
    this.#cache = new TokenCache(this.#config.cache.maxEntries);
    this.#revocations = new RevocationList(this.#config.revocations);
  }

  /** First key fetch for every JWT issuer and the introspection secret. Never throws. */
  async start(): Promise<void> {
    await Promise.all([
      ...[...this.#jwtIssuers.values()].map((i) => i.keys.start()),
      this.#introspector?.start() ?? Promise.resolve(),
    ]);
  }

  /** True when every JWT issuer holds usable keys and introspection (if any) has its secret. */
  ready(): boolean {
    for (const i of this.#jwtIssuers.values()) if (!i.keys.ready()) return false;
    return this.#introspector === undefined || this.#introspector.ready();
  }

  /** Replaces the revocation list; effective for the next request, cached tokens included. */
  setRevocations(r: Revocations): void {
    this.#revocations.set(r);
  }

  close(): void {
    for (const i of this.#jwtIssuers.values()) i.keys.close();
    this.#cache.clear();
  }

  /**
   * Never throws, never rejects. A cached token (and a request without a usable credential) is
   * answered at once, without a Promise: that is most requests, and the Check pipeline then
   * finishes without waiting. Verification and introspection answer through a Promise.
   */
  authenticate(req: HttpRequest): MaybePromise<AuthnResult> {
    try {
      const bearer = locateBearer(req, this.#config.maxTokenBytes);
      if (!bearer.ok) return { ok: false, reason: bearer.reason };
      const hash = tokenHash(bearer.token);
      const now = this.#clock.now();
      // Only strings that passed the whole of extractBearer and verified are ever cached, so a
      // hit needs no second syntax check; anything else is checked before verification.
      const hit = this.#cache.get(hash, now);
      if (hit !== undefined) {
        emit(this.#events, 'cache', 'hit');
        return this.#admit(hit, req, true);
      }
      if (!isB64Token(bearer.token)) return { ok: false, reason: 'credential_malformed' };
      emit(this.#events, 'cache', 'miss');
      return this.#verifyAndAdmit(bearer.token, hash, now, req).catch(() => INTERNAL_ERROR);
    } catch {
      return INTERNAL_ERROR;
    }
  }

  async #verifyAndAdmit(token: string, hash: string, now: number, req: HttpRequest): Promise<AuthnResult> {
    const verified = await this.#verify(token);
    if (!verified.ok) {
      const { reason, retryAfterSeconds } = verified;
      return retryAfterSeconds === undefined ? { ok: false, reason } : { ok: false, reason, retryAfterSeconds };
    }
    const validUntil = Math.min(verified.validUntilMs, now + this.#config.cache.maxSeconds * 1000);
    this.#cache.set(hash, verified.principal, validUntil, now);
    return this.#admit(verified.principal, req, false);
  }

  async #verify(token: string): Promise<Verified> {
    if (token.includes('.')) {
      const r = await verifyJwt(token, this.#jwtIssuers, this.#clock);
      return r.ok ? { ok: true, principal: r.principal, validUntilMs: r.principal.expiresAt * 1000 } : r;
    }
    if (this.#introspector === undefined) return { ok: false, reason: 'token_issuer_unknown' };
    return this.#introspector.introspect(token);
  }

  /** Checks that must run on every request, whether or not verification was cached. */
  #admit(principal: Principal, req: HttpRequest, cached: boolean): AuthnResult {
    if (this.#revocations.isRevoked(principal)) return { ok: false, reason: 'token_revoked', principal };
    const iss = this.#issuerConfigs.get(principal.issuer);
    const required =
      iss !== undefined && (iss.requireCertificateBinding || iss.certificateBoundClients.includes(principal.clientId));
    const binding = checkCertificateBinding(principal, req, required);
    if (binding !== undefined) return { ok: false, reason: binding, principal };
    return { ok: true, principal, cached };
  }
}
