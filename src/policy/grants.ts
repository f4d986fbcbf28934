/**
 * Effective grants: the token's SMART resource scopes ∩ what the policy accepts (levels, v1) ∩ the
 * client's registered scope ceiling ∩ (when enforced) the user's role rules. Each step can only
 * remove or narrow a grant; nothing here widens one.
 */
import type { Principal } from '../core/principal.ts';
import { parseScopes } from '../smart/scopes.ts';
import type { Permission, ResourceScope } from '../smart/scopes.ts';
import type { CompiledPolicy } from './compile.ts';

export interface EffectiveGrants {
  /** Grants after every intersection. */
  readonly grants: readonly ResourceScope[];
  /** Resource scopes the token carried that the policy accepts, before ceiling and roles. */
  readonly requested: readonly ResourceScope[];
  /** True when the client has a registered ceiling. */
  readonly ceilingApplied: boolean;
  /** Grants after the ceiling, before role rules (to tell which one removed a grant). */
  readonly afterCeiling: readonly ResourceScope[];
}

/** Does `ceiling` cover `grant` (same level, type, ⊇ permissions, restrictions no looser)? */
export function covers(ceiling: ResourceScope, grant: ResourceScope): boolean {
  if (ceiling.level !== grant.level) return false;
  if (ceiling.resourceType !== '*' && ceiling.resourceType !== grant.resourceType) return false;
  for (const p of grant.permissions) if (!ceiling.permissions.has(p)) return false;
  // Every restriction of the ceiling must also restrict the grant, with the same value.
  return ceiling.restrictions.every((c) => grant.restrictions.some((g) => g.name === c.name && g.value === c.value));
}

/** Type intersection: '*' ∩ T = T, T ∩ T = T, otherwise nothing. */
function meetType(a: string, b: string): string | undefined {
  if (a === '*') return b;
  if (b === '*' || a === b) return a;
  return undefined;
}

/** The parts of `grant` the ceilings allow: type and permissions intersected (restrictions kept). */
function clip(grant: ResourceScope, ceilings: readonly ResourceScope[]): ResourceScope[] {
  const out: ResourceScope[] = [];
  for (const c of ceilings) {
    if (c.level !== grant.level) continue;
    const type = meetType(grant.resourceType, c.resourceType);
    if (type === undefined) continue;
    // The ceiling's own restrictions must already bind the grant (we never drop a restriction).
    if (!c.restrictions.every((r) => grant.restrictions.some((g) => g.name === r.name && g.value === r.value))) continue;
    const perms = new Set<Permission>([...grant.permissions].filter((p) => c.permissions.has(p)));
    if (perms.size === 0) continue;
    out.push({ ...grant, resourceType: type, permissions: perms });
  }
  return out;
}

/** The parts of `grant` the user's role rules allow, narrowed per rule (never widened). */
function allowedByRoles(policy: CompiledPolicy, roles: readonly string[], grant: ResourceScope): ResourceScope[] {
  const out: ResourceScope[] = [];
  for (const role of roles) {
    for (const rg of policy.roles.grants.get(role) ?? []) {
      const types = rg.anyType ? [grant.resourceType] : [...rg.types].map((t) => meetType(grant.resourceType, t)).filter((t) => t !== undefined);
      const perms = new Set<Permission>([...grant.permissions].filter((p) => rg.permissions.has(p)));
      if (perms.size === 0) continue;
      for (const type of types) out.push({ ...grant, resourceType: type, permissions: perms });
    }
  }
  return out;
}

export function effectiveGrants(policy: CompiledPolicy, principal: Principal): EffectiveGrants {
  const requested: ResourceScope[] = [];
  for (const s of parseScopes(principal.scopes)) {
    if (s.kind !== 'resource') continue;
    if (!policy.levels.has(s.level)) continue;
    if (s.version === 1 && !policy.acceptV1) continue;
    requested.push(s);
  }
  let grants: ResourceScope[] = requested;
  const ceiling = principal.clientId === '' ? undefined : policy.clientCeilings.get(principal.clientId);
  if (ceiling !== undefined) grants = grants.flatMap((g) => clip(g, ceiling));
  const afterCeiling = grants;
  // Role rules govern what users may do; system-level (backend service) grants have no user.
  if (policy.roles.enforce) {
    grants = grants.flatMap((g) => {
      if (g.level === 'system') return [g];
      return allowedByRoles(policy, principal.roles, g);
    });
  }
  return { grants, requested, ceilingApplied: ceiling !== undefined, afterCeiling };
}
