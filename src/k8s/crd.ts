/**
 * Builds one CustomResourceDefinition from a kind's definition: the spec and status schemas
 * (source JSON Schema, converted by structural.ts), Kubernetes-only overlays (CEL rules, list
 * types, descriptions), printer columns and names. Everything a fhirgate CRD has in common — group,
 * version, scope, status subresource, labels, category — is decided here once.
 */
import { applyOverlays } from './schema-edit.ts';
import type { Overlay, SourceSchema } from './schema-edit.ts';
import type { JSONSchemaProps } from './schema-types.ts';
import { toStructural } from './structural.ts';

export const GROUP = 'fhirgate.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
/** `kubectl get fhirgate` lists every fhirgate object. */
export const CATEGORY = 'fhirgate';

export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description?: string;
  readonly priority?: number;
}

export interface KindDefinition {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  /** One paragraph for `kubectl explain <kind>`. */
  readonly description: string;
  readonly specDescription: string;
  readonly spec: SourceSchema;
  readonly status: SourceSchema;
  /** Paths start at the object root: ['spec', …] or ['status', …]. */
  readonly overlays: readonly Overlay[];
  readonly printerColumns: readonly PrinterColumn[];
}

export interface CustomResourceDefinition {
  readonly apiVersion: 'apiextensions.k8s.io/v1';
  readonly kind: 'CustomResourceDefinition';
  readonly metadata: { readonly name: string; readonly labels: Readonly<Record<string, string>> };
  readonly spec: {
    readonly group: string;
    readonly names: {
      readonly kind: string;
      readonly listKind: string;
      readonly plural: string;
      readonly singular: string;
      readonly shortNames: readonly string[];
      readonly categories: readonly string[];
    };
    readonly scope: 'Namespaced';
    readonly versions: ReadonlyArray<{
      readonly name: string;
      readonly served: boolean;
      readonly storage: boolean;
      readonly subresources: { readonly status: Record<string, never> };
      readonly additionalPrinterColumns: readonly PrinterColumn[];
      readonly schema: { readonly openAPIV3Schema: JSONSchemaProps };
    }>;
  };
}

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

/** The root schema of a kind: apiVersion, kind, metadata, spec (required) and status. */
export function rootSchema(def: KindDefinition): JSONSchemaProps {
  const spec: JSONSchemaProps = { type: 'object', description: def.specDescription, ...toStructural(def.spec, 'spec') };
  const status: JSONSchemaProps = {
    type: 'object',
    description: `Observed state of the ${def.kind}, written by fhirgate-controller.`,
    ...toStructural(def.status, 'status'),
  };
  const root: JSONSchemaProps = {
    type: 'object',
    description: def.description,
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string', description: `${API_VERSION}` },
      kind: { type: 'string', description: def.kind },
      metadata: { type: 'object' },
      spec,
      status,
    },
  };
  return applyOverlays(root, def.overlays);
}

export function buildCrd(def: KindDefinition): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${def.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'fhirgate', 'app.kubernetes.io/part-of': 'fhirgate' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: [...def.shortNames],
        categories: [CATEGORY],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [...def.printerColumns, AGE],
          schema: { openAPIV3Schema: rootSchema(def) },
        },
      ],
    },
  };
}
