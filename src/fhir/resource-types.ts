/**
 * R4 resource types and FHIR id syntax. Type names are case-sensitive in FHIR: `patient` is not a
 * resource type, and a lenient match here would let a request reach the server under a name the
 * policy never saw.
 */
import { R4_NON_DOMAIN_RESOURCE_TYPES, R4_RESOURCE_TYPES } from './generated/resource-types.ts';

export type ResourceType = (typeof R4_RESOURCE_TYPES)[number];

const TYPES: ReadonlySet<string> = new Set<string>(R4_RESOURCE_TYPES);
const NON_DOMAIN: ReadonlySet<string> = new Set<string>(R4_NON_DOMAIN_RESOURCE_TYPES);

/** True when `s` is exactly the name of a concrete R4 resource type. */
export function isResourceType(s: string): s is ResourceType {
  return TYPES.has(s);
}

/** True for Bundle, Binary and Parameters, which have no narrative and no DomainResource parameters. */
export function isDomainResourceType(s: string): boolean {
  return TYPES.has(s) && !NON_DOMAIN.has(s);
}

/** FHIR R4 `id` datatype: 1–64 characters of A–Z, a–z, 0–9, '-' and '.'. Also used for version ids. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

export function isFhirId(s: string): boolean {
  return FHIR_ID.test(s);
}

/** The compartment types R4 defines (CompartmentDefinition codes); `[type]/[id]/[target]` needs one. */
export const COMPARTMENT_TYPES: ReadonlySet<string> = new Set(['Patient', 'Encounter', 'RelatedPerson', 'Practitioner', 'Device']);
