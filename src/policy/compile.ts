/**
 * Compiles a FhirAccessPolicy document into the immutable structure the engine reads per request:
 * sets and maps, parsed scope ceilings, no strings left to parse on the request path. Semantic
 * errors the schema cannot catch are reported with the field's path, like the schema's own.
 */
import { createHash } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv';
import { isInPatientCompartment } from '../fhir/compartment.ts';
import type { ClassifyOptions, OperationSpec } from '../fhir/request.ts';
import { isResourceType } from '../fhir/resource-types.ts';
import { parseScope } from '../smart/scopes.ts';
import type { Permission, ResourceScope, ScopeLevel } from '../smart/scopes.ts';
import { policyDocumentSchema } from './spec.ts';
import type { FhirAccessPolicyDocument, OperationRule } from './spec.ts';

export interface CompiledOperation {
  readonly name: string;
  readonly levels: ReadonlySet<'system' | 'type' | 'instance'>;
  readonly resourceTypes: ReadonlySet<string> | undefined;
  readonly permission: Permission;
  readonly scopeLevels: ReadonlySet<ScopeLevel> | undefined;
}

export interface CompiledMinimization {
  readonly name: string;
  readonly clients: ReadonlySet<string> | undefined;
  readonly roles: ReadonlySet<string> | undefined;
  readonly resourceTypes: ReadonlySet<string> | undefined;
  readonly elements: readonly string[] | undefined;
  readonly summary: 'true' | 'text' | 'data' | undefined;
  readonly excessElements: 'reject' | 'trim';
}

export interface CompiledRoleGrant {
  readonly anyType: boolean;
  readonly types: ReadonlySet<string>;
  readonly permissions: ReadonlySet<Permission>;
}

export interface CompiledSensitivity {
  readonly name: string;
  readonly resourceTypes: ReadonlySet<string>;
  readonly categories: ReadonlySet<string> | undefined;
  readonly purposeOfUse: ReadonlySet<string>;
}

export interface CompiledPolicy {
  readonly name: string;
  /** sha256 of the canonical spec; identifies the version a sidecar enforces. */
  readonly hash: string;
  readonly basePath: string;
  readonly baseUrl: string | undefined;
  readonly classifyOptions: ClassifyOptions;
  readonly publicCapabilities: boolean;
  readonly acceptV1: boolean;
  readonly levels: ReadonlySet<ScopeLevel>;
  readonly compartment: {
    readonly instanceAccess: 'verify' | 'deny';
    readonly narrowSearches: boolean;
    readonly nonCompartmentTypes: ReadonlySet<string>;
  };
  readonly search: {
    readonly allowHas: boolean;
    readonly maxChainDepth: number;
    readonly maxCount: number;
    readonly defaultCount: number | undefined;
    readonly systemSearchLevels: ReadonlySet<ScopeLevel>;
    readonly allowFilter: boolean;
    readonly allowQuery: boolean;
    readonly allowContained: boolean;
    readonly requiredParams: ReadonlyMap<string, readonly string[]>;
  };
  readonly operations: ReadonlyMap<string, CompiledOperation>;
  readonly minimization: readonly CompiledMinimization[];
  readonly roles: { readonly enforce: boolean; readonly grants: ReadonlyMap<string, readonly CompiledRoleGrant[]> };
  readonly clientCeilings: ReadonlyMap<string, readonly ResourceScope[]>;
  readonly consent: {
    readonly optOut: ReadonlyMap<string, ReadonlySet<string>>;
    readonly sensitive: readonly CompiledSensitivity[];
    readonly purposeOfUseHeader: string;
  };
  readonly breakGlass:
    | { readonly roles: ReadonlySet<string>; readonly reasonHeader: string; readonly readOnly: boolean }
    | undefined;
  readonly body: {
    readonly contentTypes: ReadonlySet<string>;
    readonly maxBytes: number;
    readonly maxDepth: number;
    readonly schemaValidation: boolean;
    readonly unknownElements: 'reject' | 'allow';
  };
}

export interface CompileIssue {
  /** JSON pointer into the document, e.g. `/spec/clients/0/scopeCeiling/1`. */
  readonly path: string;
  readonly message: string;
}

export type CompileResult =
  | { readonly ok: true; readonly policy: CompiledPolicy; readonly warnings: readonly CompileIssue[] }
  | { readonly ok: false; readonly errors: readonly CompileIssue[] };

let validateDoc: ReturnType<Ajv2020['compile']> | undefined;

function schemaErrors(doc: unknown): CompileIssue[] {
  validateDoc ??= new Ajv2020({ allErrors: true, useDefaults: true, strict: true, strictRequired: false }).compile(
    policyDocumentSchema,
  );
  if (validateDoc(doc)) return [];
  return (validateDoc.errors ?? []).slice(0, 50).map((e: ErrorObject) => ({
    path: e.instancePath === '' ? '/' : e.instancePath,
    message:
      e.keyword === 'additionalProperties'
        ? `unknown field "${String((e.params as { additionalProperty: string }).additionalProperty)}"`
        : e.keyword === 'enum'
          ? `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
          : (e.message ?? 'invalid'),
  }));
}

const set = <T>(xs: readonly T[] | undefined): ReadonlySet<T> | undefined => (xs === undefined ? undefined : new Set(xs));

/** Validate and compile one policy document (a parsed YAML/JSON object). Never throws on bad input. */
export function compilePolicy(input: unknown): CompileResult {
  const doc = structuredClone(input);
  const errors = schemaErrors(doc);
  if (errors.length > 0) return { ok: false, errors };
  const d = doc as FhirAccessPolicyDocument;
  const s = d.spec;
  const warnings: CompileIssue[] = [];
  const issues: CompileIssue[] = [];
  const typeCheck = (types: readonly string[] | undefined, path: string): void =>
    types?.forEach((t, i) => {
      if (t !== '*' && !isResourceType(t)) issues.push({ path: `${path}/${i}`, message: `"${t}" is not an R4 resource type` });
    });

  typeCheck(s.patientCompartment?.nonCompartmentTypes, '/spec/patientCompartment/nonCompartmentTypes');
  s.patientCompartment?.nonCompartmentTypes?.forEach((t, i) => {
    if (isInPatientCompartment(t) || t === 'Patient') {
      issues.push({
        path: `/spec/patientCompartment/nonCompartmentTypes/${i}`,
        message: `"${t}" is in the Patient compartment; listing it here would bypass compartment checks`,
      });
    }
  });
  s.search?.requiredParams?.forEach((r, i) => typeCheck([r.resourceType], `/spec/search/requiredParams/${i}/resourceType`));
  s.operations?.forEach((o, i) => typeCheck(o.resourceTypes, `/spec/operations/${i}/resourceTypes`));
  s.minimization?.forEach((m, i) => typeCheck(m.resourceTypes, `/spec/minimization/${i}/resourceTypes`));
  s.roles?.rules?.forEach((r, i) => typeCheck(r.resourceTypes, `/spec/roles/rules/${i}/resourceTypes`));
  s.consent?.sensitive?.forEach((r, i) => typeCheck(r.resourceTypes, `/spec/consent/sensitive/${i}/resourceTypes`));
  if (s.search?.defaultCount !== undefined && s.search.defaultCount > (s.search.maxCount ?? 100)) {
    issues.push({ path: '/spec/search/defaultCount', message: 'must not exceed maxCount' });
  }
  if (s.roles?.enforce === true && (s.roles.rules ?? []).length === 0) {
    warnings.push({ path: '/spec/roles', message: 'enforce is true but no rules are defined: every user-facing request is denied' });
  }

  const ceilings = new Map<string, ResourceScope[]>();
  s.clients?.forEach((c, i) => {
    if (ceilings.has(c.clientId)) issues.push({ path: `/spec/clients/${i}/clientId`, message: `duplicate client "${c.clientId}"` });
    const parsed: ResourceScope[] = [];
    c.scopeCeiling.forEach((raw, j) => {
      const sc = parseScope(raw);
      if (sc.kind === 'resource') parsed.push(sc);
      else if (sc.kind === 'invalid') issues.push({ path: `/spec/clients/${i}/scopeCeiling/${j}`, message: `"${raw}" is not a valid SMART scope` });
    });
    ceilings.set(c.clientId, parsed);
  });

  const ops = new Map<string, CompiledOperation>();
  const classifyOps: Record<string, OperationSpec> = {};
  s.operations?.forEach((o: OperationRule, i) => {
    if (ops.has(o.name)) issues.push({ path: `/spec/operations/${i}/name`, message: `duplicate operation "${o.name}"` });
    ops.set(o.name, {
      name: o.name,
      levels: new Set(o.levels),
      resourceTypes: set(o.resourceTypes),
      permission: o.permission,
      scopeLevels: set(o.scopeLevels),
    });
    classifyOps[o.name] = { levels: o.levels, ...(o.resourceTypes !== undefined ? { resourceTypes: o.resourceTypes } : {}) };
  });
  if (issues.length > 0) return { ok: false, errors: issues };

  const roleGrants = new Map<string, CompiledRoleGrant[]>();
  for (const r of s.roles?.rules ?? []) {
    const list = roleGrants.get(r.role) ?? [];
    list.push({ anyType: r.resourceTypes.includes('*'), types: new Set(r.resourceTypes), permissions: new Set([...r.permissions] as Permission[]) });
    roleGrants.set(r.role, list);
  }
  const optOut = new Map<string, Set<string>>();
  for (const o of s.consent?.optOut ?? []) {
    const clients = optOut.get(o.patient) ?? new Set<string>();
    for (const c of o.clients) clients.add(c);
    optOut.set(o.patient, clients);
  }
  const basePath = s.fhirBasePath.replace(/\/+$/, '');
  const policy: CompiledPolicy = {
    name: d.metadata.namespace !== undefined ? `${d.metadata.namespace}/${d.metadata.name}` : d.metadata.name,
    hash: createHash('sha256').update(JSON.stringify(s)).digest('hex'),
    basePath,
    baseUrl: s.baseUrl,
    classifyOptions: {
      basePath,
      ...(s.baseUrl !== undefined ? { baseUrl: s.baseUrl } : {}),
      operations: classifyOps,
      bundleLimits: { maxBytes: s.body?.maxBytes ?? 1024 * 1024 },
    },
    publicCapabilities: s.publicCapabilities ?? true,
    acceptV1: s.scopes?.acceptV1 ?? true,
    levels: new Set(s.scopes?.levels ?? ['patient', 'user', 'system']),
    compartment: {
      instanceAccess: s.patientCompartment?.instanceAccess ?? 'deny',
      narrowSearches: s.patientCompartment?.narrowSearches ?? false,
      nonCompartmentTypes: new Set(s.patientCompartment?.nonCompartmentTypes ?? []),
    },
    search: {
      allowHas: s.search?.allowHas ?? false,
      maxChainDepth: s.search?.maxChainDepth ?? 1,
      maxCount: s.search?.maxCount ?? 100,
      defaultCount: s.search?.defaultCount,
      systemSearchLevels: new Set(s.search?.systemSearchLevels ?? ['system']),
      allowFilter: s.search?.allowFilter ?? false,
      allowQuery: s.search?.allowQuery ?? false,
      allowContained: s.search?.allowContained ?? false,
      requiredParams: new Map((s.search?.requiredParams ?? []).map((r) => [r.resourceType, r.anyOf])),
    },
    operations: ops,
    minimization: (s.minimization ?? []).map((m) => ({
      name: m.name,
      clients: set(m.clients),
      roles: set(m.roles),
      resourceTypes: set(m.resourceTypes),
      elements: m.elements,
      summary: m.summary,
      excessElements: m.excessElements ?? 'reject',
    })),
    roles: { enforce: s.roles?.enforce ?? false, grants: roleGrants },
    clientCeilings: ceilings,
    consent: {
      optOut,
      sensitive: (s.consent?.sensitive ?? []).map((r) => ({
        name: r.name,
        resourceTypes: new Set(r.resourceTypes),
        categories: set(r.categories),
        purposeOfUse: new Set(r.purposeOfUse),
      })),
      purposeOfUseHeader: s.consent?.purposeOfUseHeader ?? 'x-purpose-of-use',
    },
    breakGlass:
      s.breakGlass === undefined
        ? undefined
        : {
            roles: new Set(s.breakGlass.roles),
            reasonHeader: s.breakGlass.reasonHeader ?? 'x-break-glass-reason',
            readOnly: s.breakGlass.readOnly ?? true,
          },
    body: {
      contentTypes: new Set(s.body?.contentTypes ?? ['application/fhir+json', 'application/json', 'application/json-patch+json']),
      maxBytes: s.body?.maxBytes ?? 1024 * 1024,
      maxDepth: s.body?.maxDepth ?? 32,
      schemaValidation: s.body?.schemaValidation ?? true,
      unknownElements: s.body?.unknownElements ?? 'reject',
    },
  };
  return { ok: true, policy, warnings };
}
