import type { Principal } from './principal.ts';
import type { ReasonCode } from './reasons.ts';

/** The pipeline phase that produced a decision; shown by `fhirgate explain` and in audit events. */
export type Phase = 'ingest' | 'classify' | 'authenticate' | 'authorize' | 'limit' | 'respond';

/** Query rewrites Envoy applies before forwarding (OkHttpResponse fields 7 and 8). */
export interface QueryRewrites {
  /** Parameters to set (replace if present). */
  readonly set: ReadonlyArray<readonly [name: string, value: string]>;
  /** Parameter names to remove. */
  readonly remove: readonly string[];
}

/** Something fhirgate must still check or do before the request may pass (e.g. instance lookups). */
export interface Obligation {
  readonly kind: string;
  readonly detail: Readonly<Record<string, string>>;
}

export interface Allow {
  readonly kind: 'allow';
  readonly reason: 'allowed';
  /** undefined only for public routes (no credential needed, e.g. `metadata`). */
  readonly principal: Principal | undefined;
  /** Name of the policy rule that allowed, e.g. "route:read-observations". */
  readonly rule: string;
  /** Headers to add to the upstream request. */
  readonly upstreamHeaders: ReadonlyArray<readonly [name: string, value: string]>;
  readonly query: QueryRewrites;
  readonly obligations: readonly Obligation[];
  /** Patient ids this request reaches (for audit and PHI quotas); empty when unknown/none. */
  readonly patients: readonly string[];
  /** True when break-glass was used to allow. */
  readonly breakGlass: boolean;
}

export interface Deny {
  readonly kind: 'deny';
  readonly reason: ReasonCode;
  readonly phase: Phase;
  /** Principal when authentication succeeded before the denial. */
  readonly principal: Principal | undefined;
  /** Rule that denied (for explain/audit), '' for default deny. */
  readonly rule: string;
  /** For insufficient_scope: the scope(s) that would have allowed the request (RFC 6750 scope=). */
  readonly requiredScope: string | undefined;
  /** Seconds for Retry-After (429/503), undefined when not applicable. */
  readonly retryAfterSeconds: number | undefined;
}

export type Decision = Allow | Deny;

export const NO_REWRITES: QueryRewrites = Object.freeze({ set: [], remove: [] });

export function deny(
  reason: ReasonCode,
  phase: Phase,
  extra: Partial<Omit<Deny, 'kind' | 'reason' | 'phase'>> = {},
): Deny {
  return {
    kind: 'deny',
    reason,
    phase,
    principal: extra.principal,
    rule: extra.rule ?? '',
    requiredScope: extra.requiredScope,
    retryAfterSeconds: extra.retryAfterSeconds,
  };
}
