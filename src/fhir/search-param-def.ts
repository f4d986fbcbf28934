/**
 * The shape of one entry in the generated search-parameter tables (src/fhir/generated/). Kept in
 * its own file so the generated code can import the type without importing any logic.
 */

/** FHIR R4 SearchParamType codes. */
export type SearchParamType =
  | 'number'
  | 'date'
  | 'string'
  | 'token'
  | 'reference'
  | 'composite'
  | 'quantity'
  | 'uri'
  | 'special';

export type SearchParamDef =
  | { readonly type: 'reference'; readonly targets: readonly string[] }
  | { readonly type: Exclude<SearchParamType, 'reference'> };
