/**
 * RFC 7662 token introspection for opaque tokens.
 *
 * Decisions (documented here because callers rely on them):
 * - Which issuer: the first configured issuer that has `introspection` handles every opaque token.
 * - Failure classes: anything that is the introspection service's fault — network error,
 *   timeout, a non-200 status (including 4xx, e.g. our client credentials rejected), a body that
 *   is not a JSON object, or an `active` member that is missing or not a boolean — is a
 *   dependency failure: `introspection_unavailable` (503, retry). Only a well-formed
 *   `active: false` is the token's fault: `token_inactive` (401).
 * - An active reply must carry a numeric `exp` (otherwise `token_claims_invalid`): we never
 *   accept a token whose end of life we do not know. `iss` and `aud` are checked when present.
 * - The answer is cached until min(exp, now + maxCacheSeconds).
 * - The client secret is read from its file at start-up and re-read when the file changes
 *   (checked at most every few seconds); it is never logged or put in an error.
 */
import { readFile, stat } from 'node:fs/promises';
import type { Clock } from '../core/clock.ts';
import type { Principal } from '../core/principal.ts';
import type { ReasonCode } from '../core/reasons.ts';
import type { ResolvedIntrospectionConfig, ResolvedIssuerConfig } from './config.ts';
import { emit } from './events.ts';
import type { IntrospectionOutcome, TokenEvents } from './events.ts';
import { fetchLimited } from './fetch-limited.ts';
import { decodeUtf8Strict, parseStrictJsonObject } from './json-strict.ts';
import { buildPrincipal } from './principal.ts';

export interface IntrospectionDeps {
  readonly clock: Clock;
  readonly fetch: typeof fetch;
  readonly events: TokenEvents;
}

export type IntrospectionResult =
  | { readonly ok: true; readonly principal: Principal; readonly validUntilMs: number }
  | { readonly ok: false; readonly reason: ReasonCode; readonly retryAfterSeconds?: number };

const MAX_REPLY_BYTES = 64 * 1024;
const SECRET_RECHECK_MS = 5_000;
const RETRY_AFTER_SECONDS = 5;

export class Introspector {
  readonly #issuer: ResolvedIssuerConfig;
  readonly #cfg: ResolvedIntrospectionConfig;
  readonly #deps: IntrospectionDeps;
  #secret: string | undefined;
  #secretVersion = '';
  #lastSecretCheckMs: number | undefined;

  constructor(issuer: ResolvedIssuerConfig, deps: IntrospectionDeps) {
    if (issuer.introspection === undefined) throw new TypeError('issuer has no introspection config');
    this.#issuer = issuer;
    this.#cfg = issuer.introspection;
    this.#deps = deps;
  }

  get issuer(): string {
    return this.#issuer.issuer;
  }

  /** Loads the client secret. Never throws; without a secret every call is a 503. */
  async start(): Promise<void> {
    await this.#reloadSecret(true);
  }

  ready(): boolean {
    return this.#secret !== undefined;
  }

  async introspect(token: string): Promise<IntrospectionResult> {
    await this.#reloadSecret(false);
    const secret = this.#secret;
    if (secret === undefined) return this.#unavailable('no_secret');
    const res = await fetchLimited(this.#deps.fetch, this.#cfg.endpoint, this.#issuer.allowInsecureLoopback, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basicAuth(this.#cfg.clientId, secret),
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
      timeoutMs: this.#cfg.timeoutMs,
      maxBytes: MAX_REPLY_BYTES,
    });
    if (!res.ok) return this.#unavailable(res.outcome);
    if (res.status !== 200) return this.#unavailable('http_error');
    const text = decodeUtf8Strict(res.body);
    const reply = text === undefined ? undefined : parseStrictJsonObject(text);
    if (reply === undefined || typeof reply['active'] !== 'boolean') return this.#unavailable('invalid_reply');
    if (reply['active'] !== true) {
      emit(this.#deps.events, 'introspection', this.issuer, 'inactive');
      return { ok: false, reason: 'token_inactive' };
    }
    emit(this.#deps.events, 'introspection', this.issuer, 'active');
    return this.#accept(reply);
  }

  #accept(reply: Readonly<Record<string, unknown>>): IntrospectionResult {
    const nowS = this.#deps.clock.now() / 1000;
    const skew = this.#issuer.clockSkewSeconds;
    const exp = reply['exp'];
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return { ok: false, reason: 'token_claims_invalid' };
    if (exp <= nowS - skew) return { ok: false, reason: 'token_expired' };
    const nbf = reply['nbf'];
    if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf))) return { ok: false, reason: 'token_claims_invalid' };
    if (typeof nbf === 'number' && nbf > nowS + skew) return { ok: false, reason: 'token_not_yet_valid' };
    if (reply['iss'] !== undefined && reply['iss'] !== this.issuer) return { ok: false, reason: 'token_claims_invalid' };
    const aud = reply['aud'];
    if (aud !== undefined) {
      const list = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : undefined;
      if (list === undefined) return { ok: false, reason: 'token_claims_invalid' };
      if (!list.some((a) => typeof a === 'string' && this.#issuer.audiences.includes(a))) {
        return { ok: false, reason: 'token_audience_mismatch' };
      }
    }
    const built = buildPrincipal(reply, 'opaque', this.issuer, this.#issuer.claims);
    if (!built.ok) return built;
    const validUntilMs = Math.min(exp * 1000, this.#deps.clock.now() + this.#cfg.maxCacheSeconds * 1000);
    return { ok: true, principal: built.principal, validUntilMs };
  }

  #unavailable(outcome: IntrospectionOutcome): IntrospectionResult {
    emit(this.#deps.events, 'introspection', this.issuer, outcome);
    return { ok: false, reason: 'introspection_unavailable', retryAfterSeconds: RETRY_AFTER_SECONDS };
  }

  /** Re-reads the secret file when its identity (inode, size, mtime) changed. */
  async #reloadSecret(force: boolean): Promise<void> {
    const now = this.#deps.clock.now();
    if (!force && this.#lastSecretCheckMs !== undefined && now - this.#lastSecretCheckMs < SECRET_RECHECK_MS) return;
    this.#lastSecretCheckMs = now;
    try {
      const st = await stat(this.#cfg.clientSecretFile);
      const version = `${st.ino}:${st.size}:${st.mtimeMs}`;
      if (!force && version === this.#secretVersion) return;
      const value = (await readFile(this.#cfg.clientSecretFile, 'utf8')).replace(/\r?\n$/, '');
      if (value === '') return;
      this.#secret = value;
      this.#secretVersion = version;
    } catch {
      // keep the last good secret; a missing file on start-up leaves the introspector unready
    }
  }
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before base64. */
export function basicAuth(clientId: string, secret: string): string {
  const enc = (s: string): string => new URLSearchParams({ v: s }).toString().slice(2);
  return `Basic ${Buffer.from(`${enc(clientId)}:${enc(secret)}`, 'utf8').toString('base64')}`;
}
