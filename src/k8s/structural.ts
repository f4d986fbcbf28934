/**
 * JSON Schema (as ajv checks it) → Kubernetes structural schema (apiextensions.k8s.io/v1).
 *
 * fhirgate keeps one schema per document shape (e.g. `policySpecSchema`), closed with
 * `additionalProperties: false` so that `fhirgate lint` reports typos. The API server wants a
 * different dialect: every node typed, no `additionalProperties` next to `properties` (it prunes
 * unknown fields instead, and `kubectl apply --validate=strict` rejects them), no `const`, no
 * `uniqueItems`, RE2 patterns. This function translates, rule by rule, and throws
 * StructuralSchemaError for anything it cannot translate faithfully, so the generator never emits
 * a CRD that checks less than the source schema without anyone noticing.
 *
 * Rules:
 * 1. `additionalProperties: false` is dropped; a schema-valued `additionalProperties` (a map) is
 *    kept only on objects without `properties`; `true` is refused.
 * 2. `const: v` becomes `enum: [v]`.
 * 3. A node without `type` gets one inferred from `enum` values, `properties`/`required` (object)
 *    or `items` (array); a union `type` array is refused.
 * 4. `uniqueItems: true` on a list of scalars becomes `x-kubernetes-list-type: set` (the API
 *    server's own uniqueness check; it refuses `uniqueItems`); on other lists it is refused.
 * 5. `pattern` must be in the subset RE2 and ECMAScript read alike (see pattern.ts). The idiom
 *    `^(?=.)…` ("non-empty") becomes `minLength: 1` when the rest cannot match a line terminator
 *    (then the two are equivalent).
 * 6. A string with neither `maxLength` nor `enum` gets the `maxLength` its anchored pattern
 *    implies, so CEL cost estimates stay bounded without changing what is accepted.
 * 7. Draft 2020-12 numeric `exclusiveMinimum`/`exclusiveMaximum` become OpenAPI's boolean form.
 * 8. `$schema`, `$id`, `$comment`, `examples` are dropped (annotations); bounds, `default`,
 *    `enum`, `required`, `format` (when the API server knows it), `title`, `description` and
 *    `x-kubernetes-*` extensions are kept; every other keyword (`$ref`, `oneOf`, `if`, …) is
 *    refused.
 */
import { analyzePattern, UnsupportedPatternError } from './pattern.ts';
import { KUBERNETES_FORMATS, SCHEMA_TYPES } from './schema-types.ts';
import type { JSONSchemaProps, SchemaType } from './schema-types.ts';

export class StructuralSchemaError extends TypeError {
  readonly code = 'ERR_K8S_STRUCTURAL';
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path || '<root>'}: ${message}`);
    this.path = path;
  }
}

/** The leading lookahead that only says "at least one character". */
const NON_EMPTY_LOOKAHEAD = '^(?=.)';

const COPIED = [
  'title',
  'description',
  'default',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'multipleOf',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'nullable',
] as const;

const DROPPED = new Set(['$schema', '$id', '$comment', 'examples']);

/** Handled explicitly below (everything else that is not COPIED, DROPPED or x-kubernetes-* throws). */
const HANDLED = new Set([
  'type',
  'enum',
  'const',
  'required',
  'properties',
  'additionalProperties',
  'items',
  'uniqueItems',
  'pattern',
  'format',
  'exclusiveMinimum',
  'exclusiveMaximum',
]);

/** Converts one JSON Schema node (and its subtree); throws StructuralSchemaError. */
export function toStructural(schema: unknown, path = ''): JSONSchemaProps {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw new StructuralSchemaError(path, 'a schema must be an object');
  }
  const src = schema as Readonly<Record<string, unknown>>;
  for (const key of Object.keys(src)) {
    if (DROPPED.has(key) || HANDLED.has(key) || (COPIED as readonly string[]).includes(key) || key.startsWith('x-kubernetes-')) continue;
    throw new StructuralSchemaError(path, `keyword "${key}" has no structural equivalent`);
  }

  const out: JSONSchemaProps = {};
  const type = resolveType(src, path);
  out.type = type;
  for (const key of COPIED) {
    if (src[key] !== undefined) (out as Record<string, unknown>)[key] = structuredClone(src[key]);
  }
  if (src.format !== undefined) {
    if (typeof src.format !== 'string' || !KUBERNETES_FORMATS.has(src.format)) {
      throw new StructuralSchemaError(path, `format ${JSON.stringify(src.format)} is unknown to the API server`);
    }
    out.format = src.format;
  }

  const enumValues = enumOf(src, path);
  if (enumValues !== undefined) out.enum = enumValues;

  convertExclusive(src, out, 'exclusiveMinimum', 'minimum', path);
  convertExclusive(src, out, 'exclusiveMaximum', 'maximum', path);

  if (type === 'object') convertObject(src, out, path);
  else if (src.properties !== undefined || src.required !== undefined || src.additionalProperties !== undefined) {
    throw new StructuralSchemaError(path, `object keywords on a node of type ${type}`);
  }

  if (type === 'array') convertArray(src, out, path);
  else if (src.items !== undefined || src.uniqueItems === true) {
    throw new StructuralSchemaError(path, `array keywords on a node of type ${type}`);
  }

  if (src.pattern !== undefined) {
    if (type !== 'string' || typeof src.pattern !== 'string') throw new StructuralSchemaError(path, 'pattern needs a string node');
    convertPattern(src.pattern, out, path);
  }

  for (const [key, value] of Object.entries(src)) {
    if (key.startsWith('x-kubernetes-')) (out as Record<string, unknown>)[key] = structuredClone(value);
  }
  return out;
}

function resolveType(src: Readonly<Record<string, unknown>>, path: string): SchemaType {
  const t = src.type;
  if (Array.isArray(t)) throw new StructuralSchemaError(path, 'a union of types is not structural');
  if (t !== undefined) {
    if (typeof t !== 'string' || !(SCHEMA_TYPES as readonly string[]).includes(t)) {
      throw new StructuralSchemaError(path, `type ${JSON.stringify(t)} is not a Kubernetes schema type`);
    }
    return t as SchemaType;
  }
  if (Array.isArray(src.enum) && src.enum.length === 0) throw new StructuralSchemaError(path, 'enum must be a non-empty array');
  const values = src.const !== undefined ? [src.const] : Array.isArray(src.enum) ? src.enum : undefined;
  if (values !== undefined && values.length > 0) {
    const kinds = new Set(values.map(jsonTypeOf));
    const [only] = kinds;
    if (kinds.size === 1 && only !== undefined) return only;
    if (kinds.size === 2 && kinds.has('integer') && kinds.has('number')) return 'number';
    throw new StructuralSchemaError(path, 'enum values of mixed types need an explicit type');
  }
  if (src.properties !== undefined || src.required !== undefined || src.additionalProperties !== undefined) return 'object';
  if (src.items !== undefined) return 'array';
  throw new StructuralSchemaError(path, 'no type and none can be inferred');
}

/** The Kubernetes schema type a JSON value belongs to. */
export function jsonTypeOf(v: unknown): SchemaType {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (Array.isArray(v)) return 'array';
  if (v !== null && typeof v === 'object') return 'object';
  throw new TypeError('null has no Kubernetes schema type');
}

function enumOf(src: Readonly<Record<string, unknown>>, path: string): unknown[] | undefined {
  const e = src.enum;
  if (e !== undefined && (!Array.isArray(e) || e.length === 0)) throw new StructuralSchemaError(path, 'enum must be a non-empty array');
  if (src.const === undefined) return e === undefined ? undefined : structuredClone(e);
  if (e !== undefined && !e.some((v) => isDeepStrictEqualJson(v, src.const))) {
    throw new StructuralSchemaError(path, 'const is not one of the enum values');
  }
  return [structuredClone(src.const)];
}

function isDeepStrictEqualJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function convertExclusive(
  src: Readonly<Record<string, unknown>>,
  out: JSONSchemaProps,
  key: 'exclusiveMinimum' | 'exclusiveMaximum',
  bound: 'minimum' | 'maximum',
  path: string,
): void {
  const v = src[key];
  if (v === undefined) return;
  if (typeof v === 'boolean') {
    if (src[bound] === undefined) throw new StructuralSchemaError(path, `${key} needs ${bound}`);
    out[key] = v;
    return;
  }
  if (typeof v !== 'number') throw new StructuralSchemaError(path, `${key} must be a number`);
  if (src[bound] !== undefined) throw new StructuralSchemaError(path, `${key} together with ${bound}`);
  out[bound] = v;
  out[key] = true;
}

function convertObject(src: Readonly<Record<string, unknown>>, out: JSONSchemaProps, path: string): void {
  const props = src.properties;
  if (props !== undefined) {
    if (props === null || typeof props !== 'object' || Array.isArray(props)) throw new StructuralSchemaError(path, 'properties must be an object');
    const converted: Record<string, JSONSchemaProps> = {};
    for (const [name, child] of Object.entries(props)) converted[name] = toStructural(child, `${path}.${name}`);
    out.properties = converted;
  }
  if (src.required !== undefined) {
    if (!Array.isArray(src.required) || !src.required.every((r) => typeof r === 'string')) {
      throw new StructuralSchemaError(path, 'required must be a list of names');
    }
    out.required = [...(src.required as string[])];
  }
  const ap = src.additionalProperties;
  if (ap === undefined || ap === false) return;
  if (ap === true) throw new StructuralSchemaError(path, 'additionalProperties: true is not structural (use x-kubernetes-preserve-unknown-fields)');
  if (props !== undefined) throw new StructuralSchemaError(path, 'additionalProperties together with properties is not structural');
  out.additionalProperties = toStructural(ap, `${path}{}`);
}

function convertArray(src: Readonly<Record<string, unknown>>, out: JSONSchemaProps, path: string): void {
  if (src.items === undefined) throw new StructuralSchemaError(path, 'an array needs items');
  if (Array.isArray(src.items)) throw new StructuralSchemaError(path, 'tuple items are not structural');
  const items = toStructural(src.items, `${path}[]`);
  out.items = items;
  if (src.uniqueItems === true) {
    if (items.type === 'object' || items.type === 'array') {
      throw new StructuralSchemaError(path, 'uniqueItems on a list of objects or lists has no structural equivalent');
    }
    if (src['x-kubernetes-list-type'] !== undefined && src['x-kubernetes-list-type'] !== 'set') {
      throw new StructuralSchemaError(path, 'uniqueItems conflicts with the given x-kubernetes-list-type');
    }
    out['x-kubernetes-list-type'] = 'set';
  }
}

function convertPattern(pattern: string, out: JSONSchemaProps, path: string): void {
  let p = pattern;
  let nonEmpty = false;
  if (p.startsWith(NON_EMPTY_LOOKAHEAD)) {
    p = `^${p.slice(NON_EMPTY_LOOKAHEAD.length)}`;
    nonEmpty = true;
  }
  let shape;
  try {
    shape = analyzePattern(p);
  } catch (err) {
    if (err instanceof UnsupportedPatternError) throw new StructuralSchemaError(path, err.message);
    throw err;
  }
  if (nonEmpty) {
    if (shape.mayMatchLineTerminator) {
      throw new StructuralSchemaError(path, 'a leading (?=.) is only rewritten when the rest cannot match a line terminator');
    }
    out.minLength = Math.max(out.minLength ?? 0, 1);
  }
  out.pattern = p;
  if (out.maxLength === undefined && out.enum === undefined && shape.maxLength !== undefined) out.maxLength = shape.maxLength;
}
