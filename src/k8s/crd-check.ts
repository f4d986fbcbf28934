/**
 * Whole-CRD checks on top of the structural check: what the API server would refuse or what
 * would silently not work (a printer column whose JSONPath names no field shows `<none>` forever).
 */
import type { CustomResourceDefinition } from './crd.ts';
import { structuralProblems } from './structural-check.ts';
import type { JSONSchemaProps } from './schema-types.ts';

const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Problems of one CRD; [] = none. */
export function crdProblems(crd: CustomResourceDefinition): string[] {
  const out: string[] = [];
  const { names, group, versions } = crd.spec;
  if (crd.metadata.name !== `${names.plural}.${group}`) out.push('metadata.name must be <plural>.<group>');
  for (const n of [names.plural, names.singular, ...names.shortNames]) if (!DNS_LABEL.test(n)) out.push(`name "${n}" is not a lower-case DNS label`);
  if (versions.filter((v) => v.storage).length !== 1) out.push('exactly one version must be the storage version');
  for (const v of versions) {
    const root = v.schema.openAPIV3Schema;
    // apiVersion/kind/metadata are the API server's; only spec and status must be bounded for CEL.
    out.push(...structuralProblems(root, { requireBounds: false }).map((p) => `${v.name}: ${p}`));
    for (const part of ['spec', 'status'] as const) {
      const s = root.properties?.[part];
      if (s === undefined) out.push(`${v.name}: no ${part} schema`);
      else out.push(...structuralProblems(s).map((p) => `${v.name}: ${part}${p.startsWith('<root>') ? p.slice(6) : p}`));
    }
    if (v.subresources.status === undefined) out.push(`${v.name}: status subresource missing`);
    for (const c of v.additionalPrinterColumns) {
      const problem = columnProblem(root, c.jsonPath, c.type);
      if (problem !== undefined) out.push(`${v.name}: column "${c.name}": ${problem}`);
    }
  }
  return out;
}

/**
 * Resolves the simple JSONPath forms printer columns use (`.a.b`, `.a[?(@.k=="v")].b`) against
 * the schema and checks the column type fits the field.
 */
export function columnProblem(root: JSONSchemaProps, jsonPath: string, type: string): string | undefined {
  if (jsonPath === '.metadata.creationTimestamp') return type === 'date' ? undefined : 'creationTimestamp is a date';
  const steps = jsonPath.match(/\.[A-Za-z0-9_]+|\[\?\(@\.[A-Za-z0-9_]+=="[^"]*"\)\]/g);
  if (steps === null || steps.join('') !== jsonPath) return `unsupported JSONPath ${jsonPath}`;
  let node: JSONSchemaProps | undefined = root;
  for (const step of steps) {
    if (node === undefined) break;
    if (step.startsWith('[')) {
      const key = /@\.([A-Za-z0-9_]+)/.exec(step)?.[1] ?? '';
      if (node.type !== 'array' || node.items?.properties?.[key] === undefined) return `${step} needs a list of objects with "${key}"`;
      node = node.items;
    } else {
      node = node.properties?.[step.slice(1)];
    }
  }
  if (node === undefined) return `${jsonPath} names no field`;
  const fits =
    type === 'date' ? node.type === 'string' && (node.format === 'date-time' || node.format === 'date') : node.type === type || (type === 'number' && node.type === 'integer');
  return fits ? undefined : `type ${type} does not fit field type ${node.type ?? 'none'}`;
}
