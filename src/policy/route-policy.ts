/**
 * The first slice of the authorize phase: per-route required scopes, deny by default.
 *
 * A rule allows a request when its method is listed, its resource type (the first path segment
 * under the FHIR base) is listed (or the rule lists '*'), and the token carries at least one of
 * the rule's scopes, compared as exact strings. Paths under the base that are listed as public
 * need no token. Everything else is denied. The SMART engine replaces the scope comparison and
 * slots into this same phase with the same `Authorizer` interface.
 */
import type { Decision } from '../core/decision.ts';
import { deny, NO_REWRITES } from '../core/decision.ts';
import type { HttpRequest } from '../core/http.ts';
import type { Principal } from '../core/principal.ts';
import type { ReasonCode } from '../core/reasons.ts';

export interface RouteRuleSpec {
  readonly name: string;
  readonly methods: readonly string[];
  readonly resourceTypes: readonly string[];
  readonly anyScopes: readonly string[];
}

export interface RoutePolicySpec {
  readonly fhirBasePath: string;
  readonly rules: readonly RouteRuleSpec[];
  readonly publicPaths?: readonly string[];
}

/** Where a request lands before any token is looked at. */
export type RouteMatch =
  | { readonly kind: 'public'; readonly path: string }
  | { readonly kind: 'protected'; readonly resourceType: string }
  | { readonly kind: 'invalid'; readonly reason: ReasonCode };

/** The contract every authorize-phase implementation fulfils. */
export interface Authorizer {
  /** Classify the request's route: public, protected (needs a token) or invalid (deny now). */
  route(req: HttpRequest): RouteMatch;
  /** Decide for an authenticated principal. Must be total: every path ends in allow or deny. */
  authorize(req: HttpRequest, match: RouteMatch & { kind: 'protected' }, principal: Principal): Decision;
  /** Allow for a public route (no principal). */
  allowPublic(req: HttpRequest, match: RouteMatch & { kind: 'public' }): Decision;
}

const SEGMENT = /^[A-Za-z0-9\-._$]{1,64}$/;
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;

interface CompiledRule {
  readonly name: string;
  readonly methods: ReadonlySet<string>;
  readonly anyType: boolean;
  readonly types: ReadonlySet<string>;
  readonly scopes: ReadonlySet<string>;
  readonly scopeList: string;
}

export class RoutePolicy implements Authorizer {
  readonly #base: string;
  readonly #rules: readonly CompiledRule[];
  readonly #public: ReadonlySet<string>;

  constructor(spec: RoutePolicySpec) {
    this.#base = normalizeBase(spec.fhirBasePath);
    this.#rules = spec.rules.map((r) => ({
      name: r.name,
      methods: new Set(r.methods.map((m) => m.toUpperCase())),
      anyType: r.resourceTypes.includes('*'),
      types: new Set(r.resourceTypes),
      scopes: new Set(r.anyScopes),
      scopeList: r.anyScopes.join(' '),
    }));
    this.#public = new Set((spec.publicPaths ?? []).map((p) => (p.startsWith('/') ? p : `/${p}`)));
  }

  route(req: HttpRequest): RouteMatch {
    const { path } = req;
    if (path !== this.#base && !path.startsWith(`${this.#base}/`)) return { kind: 'invalid', reason: 'route_not_allowed' };
    const rest = path.slice(this.#base.length);
    // Envoy normalizes paths, but the sidecar does not rely on it: any encoded, empty or dot
    // segment is refused here too.
    const segments = rest === '' || rest === '/' ? [] : rest.slice(1).split('/');
    for (const s of segments) {
      if (!SEGMENT.test(s) || s === '.' || s === '..') return { kind: 'invalid', reason: 'request_path_invalid' };
    }
    if (this.#public.has(rest) && (req.method === 'GET' || req.method === 'HEAD')) return { kind: 'public', path: rest };
    const first = segments[0];
    if (first === undefined || !RESOURCE_TYPE.test(first)) return { kind: 'invalid', reason: 'route_not_allowed' };
    return { kind: 'protected', resourceType: first };
  }

  allowPublic(_req: HttpRequest, match: RouteMatch & { kind: 'public' }): Decision {
    return {
      kind: 'allow',
      reason: 'allowed',
      principal: undefined,
      rule: `public:${match.path}`,
      upstreamHeaders: [],
      query: NO_REWRITES,
      obligations: [],
      patients: [],
      breakGlass: false,
    };
  }

  authorize(req: HttpRequest, match: RouteMatch & { kind: 'protected' }, principal: Principal): Decision {
    let routeMatched: CompiledRule | undefined;
    for (const rule of this.#rules) {
      if (!rule.methods.has(req.method)) continue;
      if (!rule.anyType && !rule.types.has(match.resourceType)) continue;
      routeMatched ??= rule;
      if (principal.scopes.some((s) => rule.scopes.has(s))) {
        return {
          kind: 'allow',
          reason: 'allowed',
          principal,
          rule: `route:${rule.name}`,
          upstreamHeaders: [],
          query: NO_REWRITES,
          obligations: [],
          patients: principal.patient !== undefined ? [principal.patient] : [],
          breakGlass: false,
        };
      }
    }
    if (routeMatched !== undefined) {
      return deny('scope_insufficient', 'authorize', {
        principal,
        rule: `route:${routeMatched.name}`,
        requiredScope: routeMatched.scopeList,
      });
    }
    return deny('route_not_allowed', 'authorize', { principal });
  }
}

function normalizeBase(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  if (trimmed !== '' && !trimmed.startsWith('/')) throw new TypeError('fhirBasePath must start with "/"');
  return trimmed;
}
