/**
 * Lookup over the generated search-parameter tables: the definition a parameter name has for a
 * resource type, including the parameters every resource (and every DomainResource) inherits.
 */
import {
  DOMAIN_RESOURCE_SEARCH_PARAMETERS,
  RESOURCE_SEARCH_PARAMETERS,
  SEARCH_PARAMETERS,
} from './generated/search-parameters.ts';
import { isDomainResourceType, isResourceType } from './resource-types.ts';
import type { SearchParamDef } from './search-param-def.ts';

/**
 * The definition of search parameter `name` on `resourceType`, or undefined when the type does not
 * define it. With `resourceType` undefined (system-level search) only the Resource-wide parameters
 * are known.
 */
export function searchParamDef(resourceType: string | undefined, name: string): SearchParamDef | undefined {
  if (Object.hasOwn(RESOURCE_SEARCH_PARAMETERS, name)) return RESOURCE_SEARCH_PARAMETERS[name];
  if (resourceType === undefined || !isResourceType(resourceType)) return undefined;
  if (isDomainResourceType(resourceType) && Object.hasOwn(DOMAIN_RESOURCE_SEARCH_PARAMETERS, name)) {
    return DOMAIN_RESOURCE_SEARCH_PARAMETERS[name];
  }
  const own = Object.hasOwn(SEARCH_PARAMETERS, resourceType) ? SEARCH_PARAMETERS[resourceType] : undefined;
  if (own === undefined || !Object.hasOwn(own, name)) return undefined;
  return own[name];
}

/** Target types of a reference parameter; empty for non-reference or unknown parameters. */
export function referenceTargets(resourceType: string | undefined, name: string): readonly string[] {
  const def = searchParamDef(resourceType, name);
  return def !== undefined && def.type === 'reference' ? def.targets : [];
}
