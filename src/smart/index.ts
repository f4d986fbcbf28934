/** SMART App Launch: scope grammar, interaction → permission mapping, launch context. */
export { grantsFor, hasUnrestrictedGrant, parseScope, parseScopes, permissionFor, restrictionsSatisfied } from './scopes.ts';
export type {
  ContextScope,
  ContextScopeName,
  InvalidScope,
  OtherScope,
  Permission,
  ResourceScope,
  Restriction,
  RestrictionCheck,
  Scope,
  ScopeLevel,
} from './scopes.ts';
export { launchContext, parseFhirUser } from './launch.ts';
export type { ContextReference, FhirUser, FhirUserType, LaunchContext, LaunchOptions, LaunchResult } from './launch.ts';
