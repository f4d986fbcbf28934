/**
 * FhirAccessPolicy: the policy document. The same YAML is a Kubernetes custom resource
 * (`apiVersion: fhirgate.io/v1alpha1`, `kind: FhirAccessPolicy`) and a file for
 * `fhirgate explain --policy` / `fhirgate test` / `fhirgate lint`. This file is the one source of
 * truth for its shape: the TypeScript types below and the JSON Schema that ajv checks (and that
 * the CRD generator turns into the CRD's OpenAPI schema). Semantic checks the schema cannot
 * express live in compile.ts.
 */

export const API_VERSION = 'fhirgate.io/v1alpha1';
export const POLICY_KIND = 'FhirAccessPolicy';

export type PermissionLetters = string; // c?r?u?d?s?, non-empty
export type ScopeLevelName = 'patient' | 'user' | 'system';

export interface OperationRule {
  /** Operation name without `$`, e.g. `everything`, `export`. */
  readonly name: string;
  readonly levels: ReadonlyArray<'system' | 'type' | 'instance'>;
  /** Types for type/instance invocations; omitted = any. */
  readonly resourceTypes?: readonly string[];
  /** SMART permission the caller needs on the resource type ('*' for system level). */
  readonly permission: 'c' | 'r' | 'u' | 'd' | 's';
  /** Scope levels that may invoke it; omitted = all the policy accepts. */
  readonly scopeLevels?: readonly ScopeLevelName[];
}

export interface MinimizationRule {
  readonly name: string;
  /** Match: any listed client / role / type; an omitted list matches everything. */
  readonly clients?: readonly string[];
  readonly roles?: readonly string[];
  readonly resourceTypes?: readonly string[];
  /** Forced `_elements` (the server adds mandatory elements itself). */
  readonly elements?: readonly string[];
  /** Forced `_summary`. */
  readonly summary?: 'true' | 'text' | 'data';
  /** What to do when the client asks for elements beyond `elements`: reject (403) or trim. */
  readonly excessElements?: 'reject' | 'trim';
}

export interface RoleRule {
  readonly role: string;
  readonly resourceTypes: readonly string[];
  readonly permissions: PermissionLetters;
}

export interface ClientRule {
  readonly clientId: string;
  /** The most this client may ever be granted, as SMART scopes; tokens are intersected with it. */
  readonly scopeCeiling: readonly string[];
}

export interface SensitivityRule {
  readonly name: string;
  readonly resourceTypes: readonly string[];
  /** Only when searching/reading with one of these `category` codes (system|code or code); omitted = always. */
  readonly categories?: readonly string[];
  /** Purpose-of-use codes (e.g. HL7 v3 ActReason `TREAT`, `ETREAT`) that unlock the data. */
  readonly purposeOfUse: readonly string[];
}

export interface FhirAccessPolicySpec {
  readonly fhirVersion?: 'R4';
  /** Path prefix of the FHIR base on this workload, e.g. `/fhir`. */
  readonly fhirBasePath: string;
  /** Absolute base URL clients use (absolute references resolve only under it). */
  readonly baseUrl?: string;
  /** `GET [base]/metadata` without a token (SMART clients need it before they have one). */
  readonly publicCapabilities?: boolean;
  readonly scopes?: {
    /** Accept SMART v1 scopes (`read`/`write`/`*`). */
    readonly acceptV1?: boolean;
    readonly levels?: readonly ScopeLevelName[];
  };
  readonly patientCompartment?: {
    /** Instance access on compartment types other than Patient under patient-level scopes. */
    readonly instanceAccess?: 'verify' | 'deny';
    /** Add `patient=<launch patient>` to searches that do not name one (else deny). */
    readonly narrowSearches?: boolean;
    /** Types outside the Patient compartment readable/searchable under patient-level scopes. */
    readonly nonCompartmentTypes?: readonly string[];
  };
  readonly search?: {
    readonly allowHas?: boolean;
    /** 0 = no chained parameters. */
    readonly maxChainDepth?: number;
    /** `_count` above this is rewritten down to it. */
    readonly maxCount?: number;
    /** `_count` set when the client sent none. */
    readonly defaultCount?: number;
    /** Scope levels allowed to search or read history across all types. */
    readonly systemSearchLevels?: readonly ScopeLevelName[];
    readonly allowFilter?: boolean;
    readonly allowQuery?: boolean;
    readonly allowContained?: boolean;
    /** Per type, at least one of these parameters must be present. */
    readonly requiredParams?: ReadonlyArray<{ readonly resourceType: string; readonly anyOf: readonly string[] }>;
  };
  readonly operations?: readonly OperationRule[];
  readonly minimization?: readonly MinimizationRule[];
  readonly roles?: {
    /** When true, effective permission = scopes ∩ role rules (users without a matching role get nothing). */
    readonly enforce?: boolean;
    readonly rules?: readonly RoleRule[];
  };
  readonly clients?: readonly ClientRule[];
  readonly consent?: {
    readonly optOut?: ReadonlyArray<{ readonly patient: string; readonly clients: readonly string[] }>;
    readonly sensitive?: readonly SensitivityRule[];
    /** Header carrying the purpose of use. */
    readonly purposeOfUseHeader?: string;
  };
  readonly breakGlass?: {
    readonly roles: readonly string[];
    /** Header carrying the user's justification (recorded as a category only). */
    readonly reasonHeader?: string;
    readonly readOnly?: boolean;
  };
  readonly body?: {
    readonly contentTypes?: readonly string[];
    readonly maxBytes?: number;
    readonly maxDepth?: number;
    readonly schemaValidation?: boolean;
    readonly unknownElements?: 'reject' | 'allow';
  };
}

export interface FhirAccessPolicyDocument {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: typeof POLICY_KIND;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly [k: string]: unknown };
  readonly spec: FhirAccessPolicySpec;
}

// ── JSON Schema ─────────────────────────────────────────────────────────────────────────────────

const RESOURCE_TYPE = { type: 'string', pattern: '^[A-Z][A-Za-z]{1,63}$' } as const;
const TYPE_OR_STAR = { type: 'string', pattern: '^(\\*|[A-Z][A-Za-z]{1,63})$' } as const;
const NAME = { type: 'string', pattern: '^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$' } as const;
const TOKENISH = { type: 'string', minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' } as const;
const LEVELS = { type: 'array', maxItems: 3, uniqueItems: true, items: { enum: ['patient', 'user', 'system'] } } as const;
const PERMISSIONS = { type: 'string', minLength: 1, maxLength: 5, pattern: '^c?r?u?d?s?$' } as const;
const HEADER = { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,63}$' } as const;
const list = (items: object, maxItems = 256) => ({ type: 'array', maxItems, items }) as const;

/** JSON Schema of `spec`, in the subset Kubernetes structural schemas accept. */
export const policySpecSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['fhirBasePath'],
  properties: {
    fhirVersion: { enum: ['R4'], default: 'R4' },
    fhirBasePath: { type: 'string', maxLength: 256, pattern: '^(/[A-Za-z0-9._~-]+)*/?$' },
    baseUrl: { type: 'string', maxLength: 2048, pattern: '^https?://[^\\s?#]+$' },
    publicCapabilities: { type: 'boolean', default: true },
    scopes: {
      type: 'object',
      additionalProperties: false,
      properties: { acceptV1: { type: 'boolean', default: true }, levels: LEVELS },
    },
    patientCompartment: {
      type: 'object',
      additionalProperties: false,
      properties: {
        instanceAccess: { enum: ['verify', 'deny'], default: 'deny' },
        narrowSearches: { type: 'boolean', default: false },
        nonCompartmentTypes: list(RESOURCE_TYPE, 150),
      },
    },
    search: {
      type: 'object',
      additionalProperties: false,
      properties: {
        allowHas: { type: 'boolean', default: false },
        maxChainDepth: { type: 'integer', minimum: 0, maximum: 3, default: 1 },
        maxCount: { type: 'integer', minimum: 1, maximum: 10000, default: 100 },
        defaultCount: { type: 'integer', minimum: 1, maximum: 10000 },
        systemSearchLevels: LEVELS,
        allowFilter: { type: 'boolean', default: false },
        allowQuery: { type: 'boolean', default: false },
        allowContained: { type: 'boolean', default: false },
        requiredParams: list(
          {
            type: 'object',
            additionalProperties: false,
            required: ['resourceType', 'anyOf'],
            properties: { resourceType: RESOURCE_TYPE, anyOf: { ...list(TOKENISH, 32), minItems: 1 } },
          },
          150,
        ),
      },
    },
    operations: list(
      {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'levels', 'permission'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9-]{0,63}$' },
          levels: { type: 'array', minItems: 1, maxItems: 3, uniqueItems: true, items: { enum: ['system', 'type', 'instance'] } },
          resourceTypes: list(RESOURCE_TYPE, 150),
          permission: { enum: ['c', 'r', 'u', 'd', 's'] },
          scopeLevels: LEVELS,
        },
      },
      64,
    ),
    minimization: list(
      {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: NAME,
          clients: list(TOKENISH),
          roles: list(TOKENISH),
          resourceTypes: list(RESOURCE_TYPE, 150),
          elements: list({ type: 'string', pattern: '^[a-z][A-Za-z0-9]{0,63}(\\[x\\])?$' }, 64),
          summary: { enum: ['true', 'text', 'data'] },
          excessElements: { enum: ['reject', 'trim'], default: 'reject' },
        },
      },
      64,
    ),
    roles: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enforce: { type: 'boolean', default: false },
        rules: list(
          {
            type: 'object',
            additionalProperties: false,
            required: ['role', 'resourceTypes', 'permissions'],
            properties: { role: TOKENISH, resourceTypes: { ...list(TYPE_OR_STAR, 150), minItems: 1 }, permissions: PERMISSIONS },
          },
          512,
        ),
      },
    },
    clients: list(
      {
        type: 'object',
        additionalProperties: false,
        required: ['clientId', 'scopeCeiling'],
        properties: { clientId: TOKENISH, scopeCeiling: list({ type: 'string', minLength: 1, maxLength: 1024 }, 128) },
      },
      1024,
    ),
    consent: {
      type: 'object',
      additionalProperties: false,
      properties: {
        optOut: list(
          {
            type: 'object',
            additionalProperties: false,
            required: ['patient', 'clients'],
            properties: { patient: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' }, clients: { ...list(TOKENISH), minItems: 1 } },
          },
          10000,
        ),
        sensitive: list(
          {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'resourceTypes', 'purposeOfUse'],
            properties: {
              name: NAME,
              resourceTypes: { ...list(RESOURCE_TYPE, 150), minItems: 1 },
              categories: list(TOKENISH, 64),
              purposeOfUse: { ...list({ type: 'string', pattern: '^[A-Za-z][A-Za-z0-9._-]{0,63}$' }, 32), minItems: 1 },
            },
          },
          64,
        ),
        purposeOfUseHeader: { ...HEADER, default: 'x-purpose-of-use' },
      },
    },
    breakGlass: {
      type: 'object',
      additionalProperties: false,
      required: ['roles'],
      properties: {
        roles: { ...list(TOKENISH, 32), minItems: 1 },
        reasonHeader: { ...HEADER, default: 'x-break-glass-reason' },
        readOnly: { type: 'boolean', default: true },
      },
    },
    body: {
      type: 'object',
      additionalProperties: false,
      properties: {
        contentTypes: list({ enum: ['application/fhir+json', 'application/json', 'application/fhir+xml', 'application/json-patch+json'] }, 4),
        maxBytes: { type: 'integer', minimum: 1, maximum: 16 * 1024 * 1024, default: 1024 * 1024 },
        maxDepth: { type: 'integer', minimum: 2, maximum: 128, default: 32 },
        schemaValidation: { type: 'boolean', default: true },
        unknownElements: { enum: ['reject', 'allow'], default: 'reject' },
      },
    },
  },
} as const;

/** JSON Schema of the whole document (apiVersion/kind/metadata/spec). */
export const policyDocumentSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: API_VERSION },
    kind: { const: POLICY_KIND },
    metadata: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', pattern: '^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$' },
        namespace: { type: 'string', pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' },
      },
    },
    spec: policySpecSchema,
    status: { type: 'object' },
  },
} as const;
