/**
 * The classified view of one FHIR REST request (the output of the classify phase). The policy
 * reasons only about this structure, never about raw paths or query strings.
 */
import type { ReasonCode } from '../core/reasons.ts';
import type { QueryPair } from './query.ts';
import type { ParsedSearch } from './search.ts';

/** Every FHIR R4 REST interaction fhirgate recognises. */
export type Interaction =
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history-instance'
  | 'history-type'
  | 'history-system'
  | 'create'
  | 'search-type'
  | 'search-system'
  | 'search-compartment'
  | 'capabilities'
  | 'batch'
  | 'transaction'
  | 'operation-system'
  | 'operation-type'
  | 'operation-instance';

export const INTERACTIONS: readonly Interaction[] = [
  'read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'history-system', 'create',
  'search-type', 'search-system', 'search-compartment', 'capabilities', 'batch', 'transaction',
  'operation-system', 'operation-type', 'operation-instance',
];

/** `Patient/123/Observation`: compartment type and id, and the searched type ('*' for all). */
export interface CompartmentRef {
  readonly type: string;
  readonly id: string;
  readonly targetType: string;
}

/** One entry of a batch/transaction Bundle, classified on its own. */
export interface BundleEntry {
  /** Position in `Bundle.entry`. */
  readonly index: number;
  /** `entry.fullUrl` when present: a `urn:uuid:`/`urn:oid:` placeholder or an URL on this server. */
  readonly fullUrl: string | undefined;
  readonly request: FhirRequest;
}

export interface FhirRequest {
  readonly interaction: Interaction;
  /** Upper-case HTTP method (for bundle entries, `entry.request.method`). */
  readonly method: string;
  /** Resource type the request addresses; for compartment searches the compartment type. */
  readonly resourceType: string | undefined;
  readonly id: string | undefined;
  readonly versionId: string | undefined;
  readonly compartment: CompartmentRef | undefined;
  /** Operation name without the `$`, for operation-* interactions. */
  readonly operation: string | undefined;
  /**
   * Conditional create (If-None-Exist), or update/patch/delete addressed by search criteria
   * instead of an id. The criteria are in `search`.
   */
  readonly conditional: boolean;
  /**
   * The search criteria the server will evaluate: query (+ form body for `_search`) for searches
   * and conditional update/patch/delete, the If-None-Exist criteria for conditional create, and
   * result parameters (`_summary`, `_elements`, `_count`) for reads and history. `_format` and
   * `_pretty` are never here.
   */
  readonly search: ParsedSearch;
  /** Decoded query (+ form body) pairs without `_format`/`_pretty`, in order; operation parameters
   *  live only here. */
  readonly query: readonly QueryPair[];
  /** `_format` when given (the response format only; no effect on authorization). */
  readonly format: string | undefined;
  /** `_pretty` when given. */
  readonly pretty: boolean | undefined;
  /** Batch/transaction entries, each classified on its own; empty for other interactions. */
  readonly entries: readonly BundleEntry[];
}

export type ClassifyResult = { readonly ok: true; readonly request: FhirRequest } | { readonly ok: false; readonly reason: ReasonCode };

/** Where an operation may be invoked. */
export type OperationLevel = 'system' | 'type' | 'instance';

/** What a deployment accepts for one `$operation` (by name without `$`). */
export interface OperationSpec {
  readonly levels: readonly OperationLevel[];
  /** Resource types for type/instance invocations; omitted = any type. */
  readonly resourceTypes?: readonly string[];
  /** Methods; omitted = GET and POST. */
  readonly methods?: readonly ('GET' | 'POST')[];
}

export interface ClassifyOptions {
  /** Path prefix of the FHIR base, e.g. `/fhir` ('' or '/' for the root). Matched exactly. */
  readonly basePath: string;
  /** Absolute base URL of this server (e.g. `https://ehr.example.org/fhir`); absolute URLs in
   *  bundles and references resolve only under it. */
  readonly baseUrl?: string;
  /**
   * Operations this deployment recognises. When given, any other operation, or one used at a
   * level, type or method its spec does not list, is denied `fhir_operation_not_allowed`. When
   * omitted every well-formed `$name` is classified and left to the policy.
   */
  readonly operations?: Readonly<Record<string, OperationSpec>>;
  /** Caps for batch/transaction bodies (defaults in bundle.ts). */
  readonly bundleLimits?: Partial<BundleLimits>;
}

export interface BundleLimits {
  /** Maximum body size in bytes. */
  readonly maxBytes: number;
  /** Maximum JSON nesting depth. */
  readonly maxDepth: number;
  /** Maximum number of entries. */
  readonly maxEntries: number;
}
