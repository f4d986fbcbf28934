/**
 * SMART App Launch scope grammar (v1 and v2, including v2 granular `?param=value` restrictions)
 * and the SMART 2 mapping from FHIR interactions to the permission letters c, r, u, d, s.
 *
 *   v1: (patient|user|system) '/' (Type|'*') '.' ('read'|'write'|'*')
 *   v2: (patient|user|system) '/' (Type|'*') '.' c?r?u?d?s?  ['?' name=value ('&' name=value)*]
 *
 * v2 letters must appear in that order, each at most once, at least one. v1 maps to v2 as the
 * specification's compatibility rules say: read → rs, write → cud, * → cruds.
 *
 * Safety rules: parsing never throws; a string that looks like a resource scope but does not
 * parse is `invalid` and grants nothing (never a partial grant); nothing here widens a grant.
 */
import type { Interaction } from '../fhir/request.ts';
import { append, EMPTY } from '../fhir/lists.ts';
import { decodeComponent } from '../fhir/query.ts';
import { isResourceType } from '../fhir/resource-types.ts';
import { splitEscaped, unescapeValue } from '../fhir/search.ts';
import type { SearchParam } from '../fhir/search.ts';

export type Permission = 'c' | 'r' | 'u' | 'd' | 's';
export type ScopeLevel = 'patient' | 'user' | 'system';

/** A granular restriction `name=value` from a v2 scope (value percent-decoded, FHIR escapes kept). */
export interface Restriction {
  readonly name: string;
  readonly value: string;
}

export interface ResourceScope {
  readonly kind: 'resource';
  readonly raw: string;
  readonly level: ScopeLevel;
  /** A resource type or '*'. */
  readonly resourceType: string;
  readonly permissions: ReadonlySet<Permission>;
  readonly version: 1 | 2;
  readonly restrictions: readonly Restriction[];
}

/** The non-resource scopes SMART defines. */
export type ContextScopeName =
  | 'launch'
  | 'launch/patient'
  | 'launch/encounter'
  | 'openid'
  | 'fhirUser'
  | 'profile'
  | 'offline_access'
  | 'online_access';

export interface ContextScope {
  readonly kind: 'context';
  readonly raw: string;
  readonly name: ContextScopeName;
}

/** A scope that is neither SMART resource nor SMART context scope (e.g. `email`); grants no FHIR access. */
export interface OtherScope {
  readonly kind: 'other';
  readonly raw: string;
}

/** A scope that starts like a resource scope but is malformed; grants nothing. */
export interface InvalidScope {
  readonly kind: 'invalid';
  readonly raw: string;
}

export type Scope = ResourceScope | ContextScope | OtherScope | InvalidScope;

const CONTEXT_SCOPES: ReadonlySet<string> = new Set<ContextScopeName>([
  'launch', 'launch/patient', 'launch/encounter', 'openid', 'fhirUser', 'profile', 'offline_access', 'online_access',
]);

const V2_LETTERS = /^c?r?u?d?s?$/;
const V1_ACTIONS: Readonly<Record<string, readonly Permission[]>> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const MAX_SCOPE_LENGTH = 1024;
const MAX_RESTRICTIONS = 16;

/** Parses one scope token. Never throws. */
export function parseScope(raw: string): Scope {
  const invalid: InvalidScope = { kind: 'invalid', raw };
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_SCOPE_LENGTH) return invalid;
  if (CONTEXT_SCOPES.has(raw)) return { kind: 'context', raw, name: raw as ContextScopeName };
  const slash = raw.indexOf('/');
  const levelText = slash < 0 ? raw : raw.slice(0, slash);
  // Only strings that start like a clinical scope (any casing of the level) are judged here;
  // a mis-cased level is invalid, not "other", so it can be reported.
  if (!/^(patient|user|system)$/i.test(levelText) || slash < 0) return { kind: 'other', raw };
  if (levelText !== 'patient' && levelText !== 'user' && levelText !== 'system') return invalid;
  const level: ScopeLevel = levelText;

  const rest = raw.slice(slash + 1);
  const q = rest.indexOf('?');
  const head = q < 0 ? rest : rest.slice(0, q);
  const dot = head.lastIndexOf('.');
  if (dot < 0) return invalid;
  const resourceType = head.slice(0, dot);
  const action = head.slice(dot + 1);
  if (resourceType !== '*' && !isResourceType(resourceType)) return invalid;

  let permissions: Permission[];
  let version: 1 | 2;
  if (Object.hasOwn(V1_ACTIONS, action)) {
    permissions = [...(V1_ACTIONS[action] ?? [])];
    version = 1;
  } else if (action.length > 0 && V2_LETTERS.test(action)) {
    permissions = [...action] as Permission[];
    version = 2;
  } else {
    return invalid;
  }

  const restrictions: Restriction[] = [];
  if (q >= 0) {
    // Granular restrictions exist only in v2.
    if (version !== 2) return invalid;
    const query = rest.slice(q + 1);
    const pieces = query.split('&');
    if (query === '' || pieces.length > MAX_RESTRICTIONS) return invalid;
    for (const piece of pieces) {
      const eq = piece.indexOf('=');
      if (eq <= 0) return invalid;
      const name = piece.slice(0, eq);
      const value = decodeComponent(piece.slice(eq + 1));
      // Plain parameter names only: a modifier or chain here would change what the restriction
      // means, and a grant we cannot read exactly must grant nothing.
      if (!PARAM_NAME.test(name) || value === undefined || value === '' || splitEscaped(value) === undefined) return invalid;
      restrictions.push({ name, value });
    }
  }
  return { kind: 'resource', raw, level, resourceType, permissions: new Set(permissions), version, restrictions };
}

/** Parses a list of scope tokens (e.g. `Principal.scopes`), or a space-separated string. */
export function parseScopes(scopes: readonly string[] | string): Scope[] {
  const list = typeof scopes === 'string' ? scopes.split(' ').filter((s) => s !== '') : scopes;
  return list.map(parseScope);
}

/**
 * The SMART 2 permission an interaction needs: read/vread/instance history → r; searches and
 * type/system history → s; create → c; update/patch → u; delete → d. Operations, capabilities and
 * batch/transaction return undefined: the policy decides those (bundle entries one by one).
 */
export function permissionFor(interaction: Interaction): Permission | undefined {
  switch (interaction) {
    case 'read':
    case 'vread':
    case 'history-instance':
      return 'r';
    case 'search-type':
    case 'search-system':
    case 'search-compartment':
    case 'history-type':
    case 'history-system':
      return 's';
    case 'create':
      return 'c';
    case 'update':
    case 'patch':
      return 'u';
    case 'delete':
      return 'd';
    default:
      return undefined;
  }
}

/** Whether resource scope `s` grants `permission` on `resourceType` at `level` (restrictions aside). */
function grants(s: Scope, level: ScopeLevel, resourceType: string, permission: Permission): s is ResourceScope {
  return s.kind === 'resource' && s.level === level && (s.resourceType === '*' || s.resourceType === resourceType) && s.permissions.has(permission);
}

/**
 * The resource scopes that grant `permission` on `resourceType` at `level` (exact level; a
 * wildcard type matches any type). Scopes with restrictions are returned with them: the caller
 * must check `restrictionsSatisfied` before treating such a scope as a grant. When none does, the
 * answer is one shared empty list (the usual answer at all but one level: no allocation).
 */
export function grantsFor(
  scopes: readonly Scope[],
  level: ScopeLevel,
  resourceType: string,
  permission: Permission,
): readonly ResourceScope[] {
  let out: ResourceScope[] | undefined;
  for (const s of scopes) {
    if (grants(s, level, resourceType, permission)) out = append(out, s);
  }
  return out ?? EMPTY;
}

/** Whether some scope grants `permission` on `resourceType` at `level` with no restriction. */
export function hasUnrestrictedGrant(scopes: readonly Scope[], level: ScopeLevel, resourceType: string, permission: Permission): boolean {
  for (const s of scopes) if (grants(s, level, resourceType, permission) && s.restrictions.length === 0) return true;
  return false;
}

/** Result of checking a scope's restrictions against a request. */
export type RestrictionCheck = 'satisfied' | 'not-satisfied' | 'needs-content';

/**
 * Whether a search is confined by the scope's restrictions. Each restriction `name=v1,v2` needs a
 * search parameter of the same name — no modifier, no chain — whose OR-values are all among the
 * restriction's values (so the search can only match what the scope allows). Repeated search
 * parameters are ANDed, so one confining parameter per restriction is enough.
 *
 * For reads (`searchParams` undefined) the answer depends on the resource content:
 * 'needs-content'. A scope without restrictions is always 'satisfied'.
 */
export function restrictionsSatisfied(
  restrictions: readonly Restriction[],
  searchParams: readonly SearchParam[] | undefined,
): RestrictionCheck {
  if (restrictions.length === 0) return 'satisfied';
  if (searchParams === undefined) return 'needs-content';
  for (const r of restrictions) {
    const allowed = new Set((splitEscaped(r.value) ?? []).map(unescapeValue));
    if (allowed.size === 0) return 'not-satisfied';
    const confined = searchParams.some(
      (p) =>
        p.name === r.name &&
        p.modifier === undefined &&
        p.chain.length === 0 &&
        p.has === undefined &&
        p.values.length > 0 &&
        p.values.every((v) => v.prefix === undefined && allowed.has(unescapeValue(v.raw))),
    );
    if (!confined) return 'not-satisfied';
  }
  return 'satisfied';
}
