/**
 * What the token layer reports about itself. Telemetry implements this interface (and turns the
 * calls into counters); the token layer never imports a metrics library. Every method is
 * optional and must not throw; outcomes are small closed sets so they can be metric labels.
 */

export type JwksFetchOutcome =
  | 'ok'
  | 'timeout'
  | 'network_error'
  | 'too_large'
  | 'insecure_url'
  | 'http_error'
  | 'invalid'
  | 'discovery_failed';

/** Why a key fetch happened: start-up, the background timer, or a request (unknown kid / stale keys). */
export type JwksFetchTrigger = 'start' | 'background' | 'unknown_kid' | 'stale';

export type IntrospectionOutcome =
  | 'active'
  | 'inactive'
  | 'timeout'
  | 'network_error'
  | 'too_large'
  | 'insecure_url'
  | 'http_error'
  | 'invalid_reply'
  | 'no_secret';

export interface TokenEvents {
  /** One discovery+JWKS fetch attempt finished. `ignoredKeys` counts JWKs that were skipped. */
  jwksFetch?(issuer: string, outcome: JwksFetchOutcome, trigger: JwksFetchTrigger, ignoredKeys: number): void;
  /** One introspection call finished. */
  introspection?(issuer: string, outcome: IntrospectionOutcome): void;
  /** A verified-token cache lookup. */
  cache?(outcome: 'hit' | 'miss'): void;
}

/** Calls an event hook, swallowing anything it throws: telemetry must never break authentication. */
export function emit<K extends keyof TokenEvents>(
  events: TokenEvents,
  name: K,
  ...args: Parameters<NonNullable<TokenEvents[K]>>
): void {
  const fn = events[name] as ((...a: unknown[]) => void) | undefined;
  if (fn === undefined) return;
  try {
    fn.apply(events, args);
  } catch {
    // ignored on purpose
  }
}
