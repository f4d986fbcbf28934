/** FHIR R4 REST grammar: the classify phase and the tables and parsers it is built from. */
export { classify } from './classify.ts';
export type { ClassifyInput } from './classify.ts';
export { classifyBundle, DEFAULT_BUNDLE_LIMITS } from './bundle.ts';
export type { BundleEntryResult, BundleResult } from './bundle.ts';
export { INTERACTIONS } from './request.ts';
export type {
  BundleEntry,
  BundleLimits,
  ClassifyOptions,
  ClassifyResult,
  CompartmentRef,
  FhirRequest,
  Interaction,
  OperationLevel,
  OperationSpec,
} from './request.ts';
export { EMPTY_SEARCH, parseSearch, parseSearchQuery, RESULT_PARAM_NAMES, splitEscaped, unescapeValue } from './search.ts';
export type { ChainLink, HasChain, Include, ParsedSearch, Prefix, ResultParams, SearchParam, SearchResult, SearchValue, SortKey } from './search.ts';
export { decodeComponent, MAX_QUERY_PAIRS, parseFormBody, parseQueryPairs } from './query.ts';
export type { QueryPair, QueryResult } from './query.ts';
export { normalizeReference, referencedPatientId, relativeToBase } from './reference.ts';
export type { NormalizedReference, ReferenceContext } from './reference.ts';
export { isInPatientCompartment, patientCompartmentParams, patientCompartmentTypes } from './compartment.ts';
export { COMPARTMENT_TYPES, isDomainResourceType, isFhirId, isResourceType } from './resource-types.ts';
export type { ResourceType } from './resource-types.ts';
export { referenceTargets, searchParamDef } from './search-params.ts';
export type { SearchParamDef, SearchParamType } from './search-param-def.ts';
export { parseStrictJson } from './strict-json.ts';
export type { StrictJsonLimits, StrictJsonResult } from './strict-json.ts';
export { R4_RESOURCE_TYPES } from './generated/resource-types.ts';
