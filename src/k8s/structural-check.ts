/**
 * An independent check that a schema is structural in the sense of apiextensions.k8s.io/v1, plus
 * fhirgate's own rule that every list and string is bounded (the API server estimates the cost of
 * each CEL rule from `maxItems`/`maxLength` and refuses CRDs whose estimate is unbounded).
 *
 * It does not trust the converter: the generated CRDs are checked against these rules in the unit
 * tests, so a hand-written overlay (status, CEL, list types) that breaks a rule fails before a real
 * API server ever sees it.
 */
import { analyzePattern, UnsupportedPatternError } from './pattern.ts';
import { jsonTypeOf } from './structural.ts';
import { SCHEMA_KEYS, SCHEMA_TYPES } from './schema-types.ts';
import type { JSONSchemaProps } from './schema-types.ts';

export interface CheckOptions {
  /** Require maxItems on every array and maxLength/enum/format on every string (default true). */
  readonly requireBounds?: boolean;
}

/** Keywords that may not appear inside allOf/anyOf/oneOf/not (the structural rule). */
const FORBIDDEN_IN_JUNCTORS = ['type', 'additionalProperties', 'default', 'description', 'nullable'] as const;

/** String formats whose length the API server knows without a maxLength. */
const BOUNDED_FORMATS = new Set(['date-time', 'datetime', 'date', 'duration', 'uuid', 'int32', 'int64']);

/** Returns one message per violation, each prefixed with the node's path; [] = structural. */
export function structuralProblems(schema: JSONSchemaProps, options: CheckOptions = {}): string[] {
  const problems: string[] = [];
  walk(schema, '', problems, options.requireBounds ?? true);
  return problems;
}

function walk(s: JSONSchemaProps, path: string, out: string[], bounds: boolean): void {
  const at = path || '<root>';
  const add = (m: string) => out.push(`${at}: ${m}`);
  for (const key of Object.keys(s)) if (!SCHEMA_KEYS.has(key)) add(`keyword "${key}" is not part of JSONSchemaProps`);
  if ((s as Record<string, unknown>).uniqueItems === true) add('uniqueItems is refused by the API server');

  const untyped = s['x-kubernetes-int-or-string'] === true || s['x-kubernetes-preserve-unknown-fields'] === true;
  if (s.type === undefined) {
    if (!untyped) add('every node needs a type');
  } else if (!SCHEMA_TYPES.includes(s.type)) {
    add(`unknown type ${JSON.stringify(s.type)}`);
  }

  checkObject(s, path, add, out, bounds);
  checkArray(s, path, add, out, bounds);
  checkScalars(s, add, bounds);
  checkValues(s, add);
  checkRules(s, add);
  for (const j of ['allOf', 'anyOf', 'oneOf'] as const) s[j]?.forEach((sub, i) => checkJunctor(sub, s, `${at}.${j}[${i}]`, out));
  if (s.not !== undefined) checkJunctor(s.not, s, `${at}.not`, out);
}

function checkObject(s: JSONSchemaProps, path: string, add: (m: string) => void, out: string[], bounds: boolean): void {
  const objectish = s.properties !== undefined || s.additionalProperties !== undefined || s.required !== undefined;
  if (objectish && s.type !== 'object') add('object keywords on a non-object node');
  if (s.properties !== undefined && s.additionalProperties !== undefined) add('properties and additionalProperties are mutually exclusive');
  if (typeof s.additionalProperties === 'boolean') add('additionalProperties must be a schema, not a boolean');
  for (const [name, child] of Object.entries(s.properties ?? {})) walk(child, `${path}.${name}`, out, bounds);
  if (typeof s.additionalProperties === 'object') {
    walk(s.additionalProperties, `${path}{}`, out, bounds);
    if (bounds && s.maxProperties === undefined) add('a map needs maxProperties');
  }
  for (const r of s.required ?? []) {
    if (s.properties !== undefined && !Object.hasOwn(s.properties, r)) add(`required field "${r}" is not a property`);
  }
}

function checkArray(s: JSONSchemaProps, path: string, add: (m: string) => void, out: string[], bounds: boolean): void {
  if (s.type !== 'array') {
    if (s.items !== undefined || s['x-kubernetes-list-type'] !== undefined) add('array keywords on a non-array node');
    return;
  }
  if (s.items === undefined) {
    add('an array needs items');
    return;
  }
  if (bounds && s.maxItems === undefined) add('an array needs maxItems');
  walk(s.items, `${path}[]`, out, bounds);
  const listType = s['x-kubernetes-list-type'];
  const keys = s['x-kubernetes-list-map-keys'];
  if (listType === 'set' && (s.items.type === 'object' || s.items.type === 'array')) add('a set needs scalar items');
  if (listType === 'map') {
    if (s.items.type !== 'object') add('a map list needs object items');
    if (keys === undefined || keys.length === 0) add('a map list needs x-kubernetes-list-map-keys');
    for (const k of keys ?? []) {
      const keySchema = s.items.properties?.[k];
      if (keySchema === undefined) add(`map key "${k}" is not a property of the items`);
      else if (!(s.items.required ?? []).includes(k) && keySchema.default === undefined) add(`map key "${k}" must be required or defaulted`);
    }
  } else if (keys !== undefined) {
    add('x-kubernetes-list-map-keys needs x-kubernetes-list-type: map');
  }
}

function checkScalars(s: JSONSchemaProps, add: (m: string) => void, bounds: boolean): void {
  if (s.type === 'string') {
    const bounded = s.maxLength !== undefined || s.enum !== undefined || (s.format !== undefined && BOUNDED_FORMATS.has(s.format));
    if (bounds && !bounded) add('a string needs maxLength (or enum)');
    if (s.pattern !== undefined) {
      try {
        analyzePattern(s.pattern);
      } catch (err) {
        if (!(err instanceof UnsupportedPatternError)) throw err;
        add(err.message);
      }
    }
  } else if (s.pattern !== undefined || s.minLength !== undefined || s.maxLength !== undefined) {
    add('string keywords on a non-string node');
  }
  const pairs: Array<[number | undefined, number | undefined, string]> = [
    [s.minLength, s.maxLength, 'minLength > maxLength'],
    [s.minItems, s.maxItems, 'minItems > maxItems'],
    [s.minimum, s.maximum, 'minimum > maximum'],
    [s.minProperties, s.maxProperties, 'minProperties > maxProperties'],
  ];
  for (const [lo, hi, m] of pairs) if (lo !== undefined && hi !== undefined && lo > hi) add(m);
}

/** `enum` and `default` must fit the node's type (the API server rejects such CRDs). */
function checkValues(s: JSONSchemaProps, add: (m: string) => void): void {
  if (s.type === undefined) return;
  const fits = (v: unknown): boolean => {
    if (v === null) return s.nullable === true;
    const t = jsonTypeOf(v);
    return t === s.type || (t === 'integer' && s.type === 'number');
  };
  if (s.enum !== undefined) {
    if (s.enum.length === 0) add('enum must not be empty');
    s.enum.forEach((v) => fits(v) || add(`enum value ${JSON.stringify(v)} does not fit type ${s.type}`));
  }
  if (s.default !== undefined) {
    if (!fits(s.default)) add(`default ${JSON.stringify(s.default)} does not fit type ${s.type}`);
    else if (s.enum !== undefined && !s.enum.some((v) => JSON.stringify(v) === JSON.stringify(s.default))) add('default is not one of the enum values');
  }
}

function checkRules(s: JSONSchemaProps, add: (m: string) => void): void {
  for (const r of s['x-kubernetes-validations'] ?? []) {
    if (typeof r.rule !== 'string' || r.rule.trim() === '') add('a validation needs a rule');
    if (r.message !== undefined && (r.message.trim() === '' || /[\r\n]/.test(r.message))) add('a validation message must be one non-empty line');
  }
}

/** Junctors may only add value checks on fields the surrounding node already declares. */
function checkJunctor(sub: JSONSchemaProps, outer: JSONSchemaProps | undefined, at: string, out: string[]): void {
  for (const key of FORBIDDEN_IN_JUNCTORS) if (sub[key] !== undefined) out.push(`${at}: "${key}" is not allowed inside a junctor`);
  for (const key of Object.keys(sub)) if (key.startsWith('x-kubernetes-')) out.push(`${at}: "${key}" is not allowed inside a junctor`);
  for (const [name, child] of Object.entries(sub.properties ?? {})) {
    const declared = outer?.properties?.[name];
    if (declared === undefined) out.push(`${at}.${name}: property is not declared outside the junctor`);
    checkJunctor(child, declared, `${at}.${name}`, out);
  }
  if (sub.items !== undefined) {
    if (outer?.items === undefined) out.push(`${at}[]: items are not declared outside the junctor`);
    checkJunctor(sub.items, outer?.items, `${at}[]`, out);
  }
  for (const j of ['allOf', 'anyOf', 'oneOf'] as const) sub[j]?.forEach((s, i) => checkJunctor(s, outer, `${at}.${j}[${i}]`, out));
  if (sub.not !== undefined) checkJunctor(sub.not, outer, `${at}.not`, out);
}
