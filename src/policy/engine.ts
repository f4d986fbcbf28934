/**
 * The SMART-on-FHIR decision engine: a compiled FhirAccessPolicy + a classified FHIR request + a
 * verified principal → Decision. Deny by default. The order of checks is fixed and visible here:
 *
 *   bundle entries (each decided alone) → capabilities → search guardrails → permission needed →
 *   effective grants by level (system, user, patient) → granular restrictions → patient
 *   compartment → includes → consent → minimization → _count cap → allow
 *   … and break-glass, which may turn some denials into an audited read-only allow.
 */
import type { Allow, Decision, Deny, Obligation } from '../core/decision.ts';
import { deny, NO_REWRITES } from '../core/decision.ts';
import type { HttpRequest } from '../core/http.ts';
import type { Principal } from '../core/principal.ts';
import type { ReasonCode } from '../core/reasons.ts';
import { classify } from '../fhir/classify.ts';
import { append, EMPTY } from '../fhir/lists.ts';
import { patientIdOf } from '../fhir/reference.ts';
import type { FhirRequest } from '../fhir/request.ts';
import type { Include } from '../fhir/search.ts';
import { referenceTargets } from '../fhir/search-params.ts';
import { launchContext } from '../smart/launch.ts';
import { grantsFor, hasUnrestrictedGrant, permissionFor, restrictionsSatisfied } from '../smart/scopes.ts';
import type { Permission, ResourceScope, ScopeLevel } from '../smart/scopes.ts';
import type { Authorizer, RouteMatch } from './authorizer.ts';
import type { CompiledPolicy } from './compile.ts';
import { bodyConfinedToPatient, bodyRulesFor, bundleEntryBody, checkBody } from './body.ts';
import type { AcceptedBody } from './body.ts';
import { checkConsent } from './consent.ts';
import { effectiveGrants } from './grants.ts';
import type { EffectiveGrants } from './grants.ts';
import { includeAllowedUnderPatient, includedTypes, isSearch, searchGuardrails } from './guardrails.ts';
import { minimize } from './minimize.ts';
import { enforcePatientCompartment, VERIFY_INSTANCE } from './patient-compartment.ts';

const LEVELS: readonly ScopeLevel[] = ['system', 'user', 'patient'];
const SYSTEM_WIDE = new Set(['search-system', 'history-system']);

/** Denials break-glass may override: grant, compartment and consent decisions — never token,
 *  request-shape, guardrail, ceiling or body checks. */
const BREAK_GLASS_OVERRIDES: ReadonlySet<ReasonCode> = new Set<ReasonCode>([
  'scope_insufficient',
  'role_insufficient',
  'launch_context_missing',
  'patient_compartment_violation',
  'patient_compartment_unconfined',
  'compartment_instance_unverifiable',
  'compartment_type_not_allowed',
  'scope_restriction_unmet',
  'consent_opt_out',
  'purpose_of_use_required',
]);

/** What the engine works out once per principal (see PolicyEngine.#facts). */
interface PrincipalFacts {
  readonly launch: ReturnType<typeof launchContext>;
  readonly eff: EffectiveGrants;
  /** `[launch patient]` or empty, shared by every patient-level decision (readonly, not frozen: see EMPTY). */
  readonly launchPatients: readonly string[];
}

interface Ctx {
  readonly req: HttpRequest;
  readonly p: Principal;
  readonly eff: EffectiveGrants;
  readonly patient: string | undefined;
  readonly launchPatients: readonly string[];
  /** The validated body of the top-level request (the Bundle for batch/transaction). */
  readonly body: AcceptedBody | undefined;
}

/** What one interaction needs: a permission on a type ('*' for system-wide), maybe limited levels. */
interface Need {
  readonly permission: Permission;
  readonly type: string;
  readonly levels: ReadonlySet<ScopeLevel> | undefined;
}

export class PolicyEngine implements Authorizer {
  readonly policy: CompiledPolicy;
  readonly id: string;
  /**
   * Launch context and effective grants depend only on the principal and this policy. Principals
   * of cached tokens are the same frozen object on every request, so these are worked out once
   * per token, not per Check; a new policy is a new engine with an empty memo.
   */
  readonly #facts = new WeakMap<Principal, PrincipalFacts>();

  constructor(policy: CompiledPolicy) {
    this.policy = policy;
    this.id = `${policy.name}@${policy.hash.slice(0, 12)}`;
  }

  route(req: HttpRequest): RouteMatch {
    const r = classify(req, this.policy.classifyOptions);
    if (!r.ok) return { kind: 'invalid', reason: r.reason };
    if (r.request.interaction === 'capabilities' && this.policy.publicCapabilities && (req.method === 'GET' || req.method === 'HEAD')) {
      return { kind: 'public', rule: 'public:capabilities', fhir: r.request };
    }
    return { kind: 'protected', fhir: r.request };
  }

  allowPublic(_req: HttpRequest, match: RouteMatch & { kind: 'public' }): Decision {
    return allow(undefined, match.rule, [], [], []);
  }

  authorize(req: HttpRequest, match: RouteMatch & { kind: 'protected' }, p: Principal): Decision {
    const { launch, eff, launchPatients } = this.#principalFacts(p);
    if (!launch.ok) return deny(launch.reason, 'authorize', { principal: p });
    const body = checkBody(this.policy, req, match.fhir);
    if (!body.ok) return deny(body.reason, 'authorize', { principal: p, rule: `body: ${body.detail}` });
    const ctx: Ctx = { req, p, eff, patient: launch.context.patient, launchPatients, body };
    const d = this.decide(ctx, match.fhir, req.method === 'GET' || req.method === 'HEAD');
    if (d.kind === 'allow') return d;
    return this.breakGlass(ctx, match.fhir, d) ?? d;
  }

  #principalFacts(p: Principal): PrincipalFacts {
    let facts = this.#facts.get(p);
    if (facts === undefined) {
      const launch = launchContext(p, this.policy.baseUrl !== undefined ? { baseUrl: this.policy.baseUrl } : {});
      const patient = launch.ok ? launch.context.patient : undefined;
      facts = { launch, eff: effectiveGrants(this.policy, p), launchPatients: patient === undefined ? EMPTY : [patient] };
      this.#facts.set(p, facts);
    }
    return facts;
  }

  /** Compiles what is slow to compile (the FHIR JSON Schema) before the first request needs it. */
  warmUp(): void {
    bodyRulesFor(this.policy);
  }

  /** One request (or one bundle entry, with mayRewrite=false and the entry's own body). */
  private decide(ctx: Ctx, fhir: FhirRequest, mayRewrite: boolean): Decision {
    const { p } = ctx;
    if (fhir.interaction === 'batch' || fhir.interaction === 'transaction') return this.decideBundle(ctx, fhir);
    if (fhir.interaction === 'capabilities') return allow(p, 'capabilities', [], [], []);

    const guard = searchGuardrails(this.policy, fhir);
    if (guard !== undefined) return deny(guard, 'authorize', { principal: p, rule: 'guardrail' });

    const need = this.need(fhir);
    if (need === undefined) return deny('fhir_operation_not_allowed', 'authorize', { principal: p });

    let first: Deny | undefined;
    for (const level of LEVELS) {
      if (need.levels !== undefined && !need.levels.has(level)) continue;
      const matching = grantsFor(ctx.eff.grants, level, need.type, need.permission);
      if (matching.length === 0) continue;
      if (need.type === '*' && SYSTEM_WIDE.has(fhir.interaction) && !this.policy.search.systemSearchLevels.has(level)) {
        first ??= deny('search_system_denied', 'authorize', { principal: p, rule: `level:${level}` });
        continue;
      }
      const d = this.atLevel(ctx, fhir, level, matching, mayRewrite);
      if (d.kind === 'allow') return d;
      first ??= d;
    }
    return first ?? noGrant(ctx, need);
  }

  private need(fhir: FhirRequest): Need | undefined {
    if (fhir.interaction.startsWith('operation-')) {
      const op = fhir.operation === undefined ? undefined : this.policy.operations.get(fhir.operation);
      if (op === undefined) return undefined;
      return { permission: op.permission, type: fhir.resourceType ?? '*', levels: op.scopeLevels };
    }
    const permission = permissionFor(fhir.interaction);
    if (permission === undefined) return undefined;
    if (SYSTEM_WIDE.has(fhir.interaction)) return { permission, type: '*', levels: undefined };
    if (fhir.interaction === 'search-compartment') {
      const target = fhir.compartment?.targetType;
      return target === undefined ? undefined : { permission, type: target, levels: undefined };
    }
    return fhir.resourceType === undefined ? undefined : { permission, type: fhir.resourceType, levels: undefined };
  }

  private atLevel(ctx: Ctx, fhir: FhirRequest, level: ScopeLevel, matching: readonly ResourceScope[], mayRewrite: boolean): Decision {
    const { p } = ctx;
    // Rewrites and verify-instance criteria are rare: their lists are made only when needed.
    let set: Array<readonly [string, string]> | undefined;
    let criteria: string[] | undefined;

    // 1. Granular restrictions (SMART v2 `?param=value`): only a grant the request provably stays within.
    let chosen = unrestricted(matching);
    if (chosen === undefined) {
      if (isSearch(fhir) || fhir.interaction === 'history-type') {
        chosen = matching.find((g) => restrictionsSatisfied(g.restrictions, fhir.search.params) === 'satisfied');
        if (chosen === undefined && mayRewrite && this.policy.compartment.narrowSearches) {
          const g = matching.find((m) => m.restrictions.every((r) => !fhir.query.some(([n]) => n === r.name)));
          if (g !== undefined && new Set(g.restrictions.map((r) => r.name)).size === g.restrictions.length) {
            chosen = g;
            set = g.restrictions.map((r) => [r.name, r.value] as const);
          }
        }
      } else if (fhir.id !== undefined && this.policy.compartment.instanceAccess === 'verify' && permissionIsRead(fhir)) {
        chosen = matching[0];
        criteria = (chosen?.restrictions ?? []).map((r) => `${encodeURIComponent(r.name)}=${encodeURIComponent(r.value)}`);
      }
      if (chosen === undefined) {
        return deny('scope_restriction_unmet', 'authorize', { principal: p, rule: `scope:${matching[0]?.raw ?? ''}`, requiredScope: matching[0]?.raw });
      }
    }
    const rule = ruleName(chosen, '');

    // 2. Patient compartment under patient-level grants.
    let patients: readonly string[];
    let how = '';
    if (level === 'patient') {
      if (ctx.patient === undefined) return deny('launch_context_missing', 'authorize', { principal: p, rule });
      const c = enforcePatientCompartment({ policy: this.policy, fhir, patient: ctx.patient, mayRewrite });
      if (!c.ok) return deny(c.reason, 'authorize', { principal: p, rule });
      for (const pair of c.set) set = append(set, pair);
      for (const o of c.obligations) {
        if (o.kind === VERIFY_INSTANCE && o.detail['criteria'] !== undefined) criteria = append(criteria, o.detail['criteria']);
      }
      how = c.how;
      patients = ctx.launchPatients;
      if (fhir.interaction === 'create' || fhir.interaction === 'update' || fhir.interaction === 'patch') {
        const b = ctx.body === undefined ? 'body_missing' : bodyConfinedToPatient(fhir, ctx.body, ctx.patient, this.policy.baseUrl);
        if (b !== undefined) return deny(b, 'authorize', { principal: p, rule: `${rule} (body)` });
      }
    } else {
      patients = requestPatients(fhir, this.policy.baseUrl);
    }
    let obligations: readonly Obligation[] = EMPTY;
    if (criteria !== undefined && criteria.length > 0 && fhir.resourceType !== undefined && fhir.id !== undefined) {
      obligations = [{ kind: VERIFY_INSTANCE, detail: { resourceType: fhir.resourceType, id: fhir.id, criteria: criteria.join('&') } }];
    }

    // 3. Includes may only pull types the token could read itself.
    const { include, revinclude } = fhir.search.result;
    if (!this.includesAllowed(ctx, level, include, 'include') || !this.includesAllowed(ctx, level, revinclude, 'revinclude')) {
      return deny('search_include_denied', 'authorize', { principal: p, rule });
    }

    // 4. Consent and sensitivity.
    const type = fhir.interaction === 'search-compartment' ? fhir.compartment?.targetType : fhir.resourceType;
    const consent = checkConsent(this.policy, ctx.req, fhir, p, patients, type);
    if (consent !== undefined) return deny(consent.reason, 'authorize', { principal: p, rule: consent.rule });

    // 5. Minimization and _count, as rewrites — only where Envoy can rewrite the query.
    const readLike = permissionIsRead(fhir) || isSearch(fhir);
    if (readLike && this.policy.minimization.length > 0) {
      const m = minimize(this.policy, fhir, p, type);
      if (!m.ok) return deny(m.reason, 'authorize', { principal: p, rule: m.rule });
      if (m.set.length > 0 && !mayRewrite) return deny('elements_not_allowed', 'authorize', { principal: p, rule: 'minimization' });
      for (const pair of m.set) set = append(set, pair);
    }
    if (isSearch(fhir) || fhir.interaction.startsWith('history')) {
      const count = fhir.search.result.count;
      const { maxCount, defaultCount } = this.policy.search;
      if (count !== undefined && count > maxCount) {
        if (!mayRewrite) return deny('search_feature_denied', 'authorize', { principal: p, rule: 'count' });
        set = append(set, ['_count', String(maxCount)]);
      } else if (count === undefined && defaultCount !== undefined && mayRewrite) {
        set = append(set, ['_count', String(defaultCount)]);
      }
    }
    return allow(p, ruleName(chosen, how), set ?? EMPTY, obligations, patients);
  }

  /** Whether every type `list` pulls in is one the token could read itself at `level`. */
  private includesAllowed(ctx: Ctx, level: ScopeLevel, list: readonly Include[], kind: 'include' | 'revinclude'): boolean {
    for (const inc of list) {
      const types = includedTypes(inc, kind, referenceTargets);
      if (types === undefined) return false;
      for (const t of types) {
        if (!hasUnrestrictedGrant(ctx.eff.grants, level, t, 'r')) return false;
        if (level === 'patient' && !includeAllowedUnderPatient(this.policy, t)) return false;
      }
    }
    return true;
  }

  private decideBundle(ctx: Ctx, fhir: FhirRequest): Decision {
    if (fhir.entries.length === 0) return deny('fhir_bundle_invalid', 'authorize', { principal: ctx.p });
    const patients = new Set<string>();
    const bundle = ctx.body?.resource;
    for (const e of fhir.entries) {
      const entryCtx: Ctx = { ...ctx, body: e.request.interaction === 'patch' ? undefined : bundleEntryBody(bundle, e.index) };
      const d = this.decide(entryCtx, e.request, false);
      if (d.kind === 'deny') return { ...d, rule: `bundle.entry[${e.index}]${d.rule === '' ? '' : ` ${d.rule}`}` };
      // Obligations cannot be met per entry inside a bundle: Envoy forwards the bundle whole.
      if (d.obligations.length > 0) {
        return deny('compartment_instance_unverifiable', 'authorize', { principal: ctx.p, rule: `bundle.entry[${e.index}]` });
      }
      for (const id of d.patients) patients.add(id);
    }
    return allow(ctx.p, `bundle(${fhir.entries.length})`, [], [], [...patients]);
  }

  private breakGlass(ctx: Ctx, fhir: FhirRequest, d: Deny): Decision | undefined {
    const bg = this.policy.breakGlass;
    if (bg === undefined || !BREAK_GLASS_OVERRIDES.has(d.reason)) return undefined;
    if (!ctx.p.roles.some((r) => bg.roles.has(r))) return undefined;
    const reason = ctx.req.headers.get(bg.reasonHeader);
    if (reason === undefined || ctx.req.duplicateHeaders.has(bg.reasonHeader) || !/^[\x20-\x7e]{3,512}$/.test(reason.trim())) return undefined;
    if (bg.readOnly && !(permissionIsRead(fhir) || isSearch(fhir) || fhir.interaction === 'history-type')) return undefined;
    return { ...allow(ctx.p, `break-glass (overrode ${d.reason})`, [], [], requestPatients(fhir, this.policy.baseUrl)), breakGlass: true };
  }
}

/** No grant at any level: say why, precisely. */
function noGrant(ctx: Ctx, need: Need): Deny {
  const { p } = ctx;
  if (grantedAtSomeLevel(ctx.eff.afterCeiling, need)) return deny('role_insufficient', 'authorize', { principal: p });
  if (grantedAtSomeLevel(ctx.eff.requested, need)) return deny('client_ceiling_exceeded', 'authorize', { principal: p });
  return deny('scope_insufficient', 'authorize', { principal: p, requiredScope: suggestScope(ctx, need) });
}

function grantedAtSomeLevel(list: readonly ResourceScope[], need: Need): boolean {
  return LEVELS.some((l) => grantsFor(list, l, need.type, need.permission).length > 0);
}

/** The first grant without granular restrictions (the common case: no restriction to check). */
function unrestricted(matching: readonly ResourceScope[]): ResourceScope | undefined {
  for (const g of matching) if (g.restrictions.length === 0) return g;
  return undefined;
}

/**
 * The rule an allow names: `scope:<raw>` or `scope:<raw> (<how>)`. The same few grants decide
 * request after request (principals of cached tokens keep theirs), so each name is built once per
 * grant and `how` — a small closed set of confinement words — and kept while the grant lives.
 */
const ruleNames = new WeakMap<ResourceScope, Map<string, string>>();
function ruleName(scope: ResourceScope, how: string): string {
  let byHow = ruleNames.get(scope);
  if (byHow === undefined) {
    byHow = new Map();
    ruleNames.set(scope, byHow);
  }
  let name = byHow.get(how);
  if (name === undefined) {
    name = how === '' ? `scope:${scope.raw}` : `scope:${scope.raw} (${how})`;
    byHow.set(how, name);
  }
  return name;
}

function permissionIsRead(fhir: FhirRequest): boolean {
  return fhir.interaction === 'read' || fhir.interaction === 'vread' || fhir.interaction === 'history-instance';
}

function allow(
  p: Principal | undefined,
  rule: string,
  set: ReadonlyArray<readonly [string, string]>,
  obligations: readonly Obligation[],
  patients: readonly string[],
): Allow {
  return {
    kind: 'allow',
    reason: 'allowed',
    principal: p,
    rule,
    upstreamHeaders: EMPTY,
    query: set.length === 0 ? NO_REWRITES : { set, remove: EMPTY },
    obligations,
    patients,
    breakGlass: false,
  };
}

/** The scope that would have allowed the request, in the token's own style (v2 letters). */
function suggestScope(ctx: Ctx, need: Need): string {
  const level: ScopeLevel = ctx.patient !== undefined ? 'patient' : ctx.eff.requested.some((s) => s.level === 'system') ? 'system' : 'user';
  return `${level}/${need.type}.${need.permission}`;
}

/** Patients a request names (for audit and consent): Patient ids, compartment ids, patient references. */
export function requestPatients(fhir: FhirRequest, baseUrl: string | undefined): readonly string[] {
  const found = addRequestPatients(fhir, baseUrl, undefined);
  if (found === undefined) return EMPTY;
  const list = [...found];
  return list.length > 256 ? list.slice(0, 256) : list;
}

/** Adds the patients `fhir` names to `out` (made on the first one found); returns it. */
function addRequestPatients(fhir: FhirRequest, baseUrl: string | undefined, out: Set<string> | undefined): Set<string> | undefined {
  if (fhir.resourceType === 'Patient' && fhir.id !== undefined) (out ??= new Set()).add(fhir.id);
  if (fhir.compartment?.type === 'Patient') (out ??= new Set()).add(fhir.compartment.id);
  for (const p of fhir.search.params) {
    if (p.chain.length > 0) continue;
    if (fhir.resourceType === 'Patient' && p.name === '_id') for (const v of p.values) (out ??= new Set()).add(v.value);
    const targets = referenceTargets(fhir.resourceType, p.name);
    if (!targets.includes('Patient')) continue;
    for (const v of p.values) {
      const id = patientIdOf(v.value, targets, p.modifier, baseUrl);
      if (id !== undefined) (out ??= new Set()).add(id);
    }
  }
  for (const e of fhir.entries) out = addRequestPatients(e.request, baseUrl, out);
  return out;
}
