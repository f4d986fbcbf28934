/**
 * Small, checked edits on schemas, so that a CRD derives its schema from an existing one instead
 * of re-typing it. Every edit names the fields it touches and throws TypeError when a field is not
 * there: when a source schema is renamed or reshaped, generation fails instead of silently
 * producing a CRD that no longer matches.
 */
import type { JSONSchemaProps } from './schema-types.ts';

/** A JSON Schema object as the source modules declare it (ajv dialect, read-only). */
export type SourceSchema = { readonly [key: string]: unknown };

function propertiesOf(schema: SourceSchema, what: string): Readonly<Record<string, SourceSchema>> {
  const props = schema.properties;
  if (props === null || typeof props !== 'object') throw new TypeError(`${what}: schema has no properties`);
  return props as Readonly<Record<string, SourceSchema>>;
}

/** The schema of one property; throws when it does not exist. */
export function propertyOf(schema: SourceSchema, name: string): SourceSchema {
  const p = propertiesOf(schema, name)[name];
  if (p === undefined) throw new TypeError(`schema has no property "${name}"`);
  return p;
}

/** The item schema of an array schema; throws when there is none. */
export function itemsOf(schema: SourceSchema): SourceSchema {
  const items = schema.items;
  if (items === null || typeof items !== 'object' || Array.isArray(items)) throw new TypeError('schema has no items schema');
  return items as SourceSchema;
}

/** A copy without the named properties (also removed from `required`). */
export function omitProperties(schema: SourceSchema, names: readonly string[]): SourceSchema {
  const props = propertiesOf(schema, names.join(','));
  for (const n of names) if (!Object.hasOwn(props, n)) throw new TypeError(`cannot omit "${n}": no such property`);
  const kept = Object.fromEntries(Object.entries(props).filter(([k]) => !names.includes(k)));
  const out: Record<string, unknown> = { ...schema, properties: kept };
  if (Array.isArray(schema.required)) out.required = (schema.required as string[]).filter((r) => !names.includes(r));
  return out;
}

/** A copy with properties added (never replaced) and, optionally, more required names. */
export function addProperties(schema: SourceSchema, extra: Readonly<Record<string, SourceSchema>>, required: readonly string[] = []): SourceSchema {
  const props = propertiesOf(schema, Object.keys(extra).join(','));
  for (const n of Object.keys(extra)) if (Object.hasOwn(props, n)) throw new TypeError(`cannot add "${n}": already a property`);
  const req = [...((schema.required as string[] | undefined) ?? []), ...required];
  return { ...schema, properties: { ...props, ...extra }, ...(req.length > 0 ? { required: req } : {}) };
}

/** A copy with one property's schema replaced by `edit(old)`. */
export function editProperty(schema: SourceSchema, name: string, edit: (old: SourceSchema) => SourceSchema): SourceSchema {
  const old = propertyOf(schema, name);
  return { ...schema, properties: { ...propertiesOf(schema, name), [name]: edit(old) } };
}

/**
 * The node at `path` in a structural schema: property names, `[]` for list items. Throws TypeError
 * when the path does not exist.
 */
export function nodeAt(schema: JSONSchemaProps, path: readonly string[]): JSONSchemaProps {
  let node = schema;
  for (const [i, step] of path.entries()) {
    const next = step === '[]' ? node.items : node.properties?.[step];
    if (next === undefined) throw new TypeError(`no schema node at ${path.slice(0, i + 1).join('.')}`);
    node = next;
  }
  return node;
}

/** Kubernetes-only additions to one node; CEL rules are appended to any already there. */
export interface Overlay {
  readonly path: readonly string[];
  readonly description?: string;
  readonly validations?: JSONSchemaProps['x-kubernetes-validations'];
  readonly listType?: { readonly type: 'set' | 'atomic' } | { readonly type: 'map'; readonly keys: readonly string[] };
}

/** Applies overlays in place to a schema the caller owns (a fresh converter output). */
export function applyOverlays(schema: JSONSchemaProps, overlays: readonly Overlay[]): JSONSchemaProps {
  for (const o of overlays) {
    const node = nodeAt(schema, o.path);
    if (o.description !== undefined) node.description = o.description;
    if (o.validations !== undefined) node['x-kubernetes-validations'] = [...(node['x-kubernetes-validations'] ?? []), ...o.validations];
    if (o.listType !== undefined) {
      if (node.type !== 'array') throw new TypeError(`list type on a non-list at ${o.path.join('.')}`);
      node['x-kubernetes-list-type'] = o.listType.type;
      if (o.listType.type === 'map') node['x-kubernetes-list-map-keys'] = [...o.listType.keys];
    }
  }
  return schema;
}
