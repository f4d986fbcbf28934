/**
 * The per-issuer key store. Keys come from the issuer's JWKS (explicit URI or found through
 * OIDC / SMART discovery), are refreshed in the background before they go stale, and are read
 * without any I/O on the request path when the token's `kid` is known.
 *
 * Request-triggered fetches (a `kid` we have not seen, or keys past their outage bound) are
 * limited to one per cooldown per issuer and shared by every request waiting at that moment, so a
 * flood of tokens with random kids costs the issuer at most one fetch per cooldown.
 *
 * During an outage the last good keys stay in use until `maxStaleSeconds` after the last
 * successful fetch; after that the issuer's tokens are denied with `issuer_keys_unavailable`.
 */
import type { Clock } from '../core/clock.ts';
import type { ResolvedIssuerConfig } from './config.ts';
import { emit } from './events.ts';
import type { JwksFetchOutcome, JwksFetchTrigger, TokenEvents } from './events.ts';
import { fetchLimited, isAllowedUrl } from './fetch-limited.ts';
import { parseKeySet } from './jwk-set.ts';
import type { VerificationKey } from './jwk-set.ts';
import { decodeUtf8Strict, parseStrictJsonObject } from './json-strict.ts';
import type { JwsKey } from './signature.ts';

export interface KeyStoreDeps {
  readonly clock: Clock;
  readonly fetch: typeof fetch;
  readonly events: TokenEvents;
  /** Uniform [0, 1); jitters the refresh schedule so sidecars do not fetch in lockstep. */
  readonly random: () => number;
}

export type KeyLookup =
  | { readonly ok: true; readonly key: JwsKey }
  | {
      readonly ok: false;
      readonly reason: 'token_signature_invalid' | 'issuer_keys_unavailable';
      readonly retryAfterSeconds?: number;
    };

const DISCOVERY_PATHS = ['/.well-known/openid-configuration', '/.well-known/smart-configuration'] as const;
const MAX_BACKOFF_MS = 60_000;

export class KeyStore {
  readonly #cfg: ResolvedIssuerConfig;
  readonly #deps: KeyStoreDeps;
  #keys: readonly VerificationKey[] = [];
  #byKid = new Map<string, VerificationKey>();
  #lastSuccessMs: number | undefined;
  #lastTriggeredMs: number | undefined;
  #inflight: Promise<boolean> | undefined;
  #discoveredUri: string | undefined;
  #failures = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(cfg: ResolvedIssuerConfig, deps: KeyStoreDeps) {
    this.#cfg = cfg;
    this.#deps = deps;
  }

  get issuer(): string {
    return this.#cfg.issuer;
  }

  /** First fetch, then the background schedule. Never throws; failure leaves ready() false. */
  async start(): Promise<void> {
    await this.refresh('start');
    this.#schedule();
  }

  /** True while the store holds keys from a fetch no older than maxStaleSeconds. */
  ready(): boolean {
    return this.#lastSuccessMs !== undefined && this.#deps.clock.now() - this.#lastSuccessMs <= this.#cfg.jwks.maxStaleSeconds * 1000;
  }

  /** Number of usable keys currently held (for status and tests). */
  get size(): number {
    return this.#keys.length;
  }

  /**
   * Fetches the key set now, or joins the fetch already running. Resolves true when the store
   * now holds fresh keys. Never rejects.
   */
  refresh(trigger: JwksFetchTrigger): Promise<boolean> {
    if (this.#inflight !== undefined) return this.#inflight;
    const run = this.#fetchOnce(trigger)
      .catch(() => {
        emit(this.#deps.events, 'jwksFetch', this.#cfg.issuer, 'invalid', trigger, 0);
        return false;
      })
      .finally(() => {
        this.#inflight = undefined;
      });
    this.#inflight = run;
    return run;
  }

  /** The key for a token's `kid` and `alg`; may wait for one rate-limited refetch. */
  async resolve(kid: string | undefined, alg: string): Promise<KeyLookup> {
    if (!this.ready()) {
      if (this.#inflight !== undefined || this.#mayTrigger()) await this.#trigger('stale');
      if (!this.ready()) return { ok: false, reason: 'issuer_keys_unavailable', retryAfterSeconds: this.#retryAfter() };
    }
    const found = this.#find(kid, alg);
    if (found !== undefined) return { ok: true, key: found };
    // A known kid used with another algorithm is a forgery attempt, not a rotation: no refetch.
    if (kid !== undefined && this.#byKid.has(kid)) return { ok: false, reason: 'token_signature_invalid' };
    if (this.#inflight === undefined && !this.#mayTrigger()) return { ok: false, reason: 'token_signature_invalid' };
    await this.#trigger('unknown_kid');
    const again = this.#find(kid, alg);
    return again !== undefined ? { ok: true, key: again } : { ok: false, reason: 'token_signature_invalid' };
  }

  /** Stops background refreshes. In-flight fetches finish on their own timeout. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #mayTrigger(): boolean {
    const last = this.#lastTriggeredMs;
    return last === undefined || this.#deps.clock.now() - last >= this.#cfg.jwks.unknownKidCooldownSeconds * 1000;
  }

  /** Joins the running fetch, or starts one and opens a new cooldown window. */
  #trigger(trigger: JwksFetchTrigger): Promise<boolean> {
    if (this.#inflight !== undefined) return this.#inflight;
    this.#lastTriggeredMs = this.#deps.clock.now();
    return this.refresh(trigger);
  }

  #retryAfter(): number {
    const cooldownMs = this.#cfg.jwks.unknownKidCooldownSeconds * 1000;
    const since = this.#lastTriggeredMs === undefined ? cooldownMs : this.#deps.clock.now() - this.#lastTriggeredMs;
    return Math.max(1, Math.ceil((cooldownMs - since) / 1000));
  }

  #find(kid: string | undefined, alg: string): JwsKey | undefined {
    if (kid !== undefined) return this.#byKid.get(kid)?.byAlg.get(alg);
    // No kid: usable only when exactly one key can verify this algorithm (no trial verification).
    const candidates = this.#keys.filter((k) => k.byAlg.has(alg));
    return candidates.length === 1 ? candidates[0]?.byAlg.get(alg) : undefined;
  }

  async #fetchOnce(trigger: JwksFetchTrigger): Promise<boolean> {
    const report = (outcome: JwksFetchOutcome, ignored = 0): boolean => {
      emit(this.#deps.events, 'jwksFetch', this.#cfg.issuer, outcome, trigger, ignored);
      if (outcome !== 'ok') this.#failures++;
      return outcome === 'ok';
    };
    const uri = this.#cfg.jwksUri ?? this.#discoveredUri ?? (await this.#discover());
    if (uri === undefined) return report('discovery_failed');
    const res = await fetchLimited(this.#deps.fetch, uri, this.#cfg.allowInsecureLoopback, {
      timeoutMs: this.#cfg.jwks.timeoutMs,
      maxBytes: this.#cfg.jwks.maxBytes,
    });
    if (!res.ok || res.status !== 200) {
      this.#discoveredUri = undefined; // rediscover next time: the JWKS may have moved
      return report(res.ok ? 'http_error' : res.outcome);
    }
    const parsed = await parseKeySet(res.body, this.#cfg.algorithms);
    // An empty usable set never replaces good keys: that would turn a publishing mistake into an outage.
    if (!parsed.ok || parsed.keys.length === 0) return report('invalid', parsed.ok ? parsed.ignored : 0);
    this.#install(parsed.keys);
    this.#failures = 0;
    return report('ok', parsed.ignored);
  }

  #install(keys: readonly VerificationKey[]): void {
    const byKid = new Map<string, VerificationKey>();
    for (const k of keys) if (k.kid !== undefined && !byKid.has(k.kid)) byKid.set(k.kid, k);
    this.#keys = keys;
    this.#byKid = byKid;
    this.#lastSuccessMs = this.#deps.clock.now();
  }

  /** OIDC discovery, then SMART discovery; the document must name exactly our issuer. */
  async #discover(): Promise<string | undefined> {
    if (!this.#cfg.discovery) return undefined;
    const base = this.#cfg.issuer.endsWith('/') ? this.#cfg.issuer.slice(0, -1) : this.#cfg.issuer;
    for (const path of DISCOVERY_PATHS) {
      const res = await fetchLimited(this.#deps.fetch, base + path, this.#cfg.allowInsecureLoopback, {
        timeoutMs: this.#cfg.jwks.timeoutMs,
        maxBytes: this.#cfg.jwks.maxBytes,
      });
      if (!res.ok || res.status !== 200) continue;
      const text = decodeUtf8Strict(res.body);
      const doc = text === undefined ? undefined : parseStrictJsonObject(text);
      if (doc === undefined || doc['issuer'] !== this.#cfg.issuer) continue;
      const jwksUri = doc['jwks_uri'];
      if (typeof jwksUri !== 'string' || !isAllowedUrl(jwksUri, this.#cfg.allowInsecureLoopback)) continue;
      this.#discoveredUri = jwksUri;
      return jwksUri;
    }
    return undefined;
  }

  #schedule(): void {
    if (this.#closed) return;
    const refreshMs = this.#cfg.jwks.refreshSeconds * 1000;
    const r = Math.min(Math.max(this.#deps.random(), 0), 1);
    // Success: refresh at 80–100 % of the period. Failure: exponential backoff, capped by the period.
    const delay =
      this.#failures === 0
        ? refreshMs * (1 - 0.2 * r)
        : Math.min(refreshMs, MAX_BACKOFF_MS, 1000 * 2 ** Math.min(this.#failures, 6)) * (0.5 + 0.5 * r);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.refresh('background').finally(() => this.#schedule());
    }, Math.max(1000, delay));
    this.#timer.unref();
  }
}
