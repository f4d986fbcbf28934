/**
 * Test helpers: ajv validators for a source schema (as fhirgate lint runs it) and for a generated
 * CRD schema, the latter emulating what the API server adds on top of OpenAPI: list-type
 * uniqueness (set, map keys) and the pruning of unknown fields (reported, so a test can tell
 * "refused" from "pruned"). CEL rules are not evaluated here.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Ajv } from 'ajv';
import type { AnySchemaObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { JSONSchemaProps } from '../../../src/k8s/schema-types.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv | Ajv2020) => void;

export type Validate = (value: unknown) => boolean;

/** The source schema exactly as the compiler runs it (draft 2020-12, strict). */
export function sourceValidator(schema: object): Validate {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
  addFormats(ajv);
  const v = ajv.compile(schema);
  return (value) => v(structuredClone(value));
}

function listTypeOk(data: unknown, parent: AnySchemaObject): boolean {
  if (!Array.isArray(data)) return true;
  const type = parent['x-kubernetes-list-type'] as string;
  if (type === 'set') return new Set(data.map((x) => JSON.stringify(x))).size === data.length;
  if (type === 'map') {
    const keys = parent['x-kubernetes-list-map-keys'] as string[];
    const ids = data.map((x) => JSON.stringify(keys.map((k) => (x as Record<string, unknown>)[k])));
    return new Set(ids).size === ids.length;
  }
  return true;
}

/** Validates against a CRD's OpenAPI schema the way the API server's OpenAPI stage does. */
export function crdValidator(schema: JSONSchemaProps): Validate {
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
  addFormats(ajv);
  ajv.addKeyword({
    keyword: 'x-kubernetes-list-type',
    schemaType: 'string',
    validate: (_s: unknown, data: unknown, parent?: AnySchemaObject) => listTypeOk(data, parent ?? {}),
  });
  ajv.addVocabulary([
    'x-kubernetes-list-map-keys',
    'x-kubernetes-validations',
    'x-kubernetes-map-type',
    'x-kubernetes-preserve-unknown-fields',
    'x-kubernetes-int-or-string',
    'x-kubernetes-embedded-resource',
  ]);
  const v = ajv.compile(schema);
  return (value) => v(structuredClone(value));
}

/** Paths of fields the API server would prune (not declared in the schema). */
export function unknownFields(schema: JSONSchemaProps, value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return schema.items === undefined ? [] : value.flatMap((v, i) => unknownFields(schema.items!, v, `${path}/${i}`));
  if (value === null || typeof value !== 'object' || schema.type !== 'object') return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    const child = schema.properties?.[k] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
    if (child === undefined) out.push(`${path}/${k}`);
    else out.push(...unknownFields(child, v, `${path}/${k}`));
  }
  return out;
}
