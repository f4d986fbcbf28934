/**
 * The status vocabulary every fhirgate kind shares: Kubernetes' standard condition shape
 * (metav1.Condition, so `kubectl wait --for=condition=Ready` and generic tooling work), the two
 * condition types the controller writes, and `observedGeneration`.
 */
import type { Overlay, SourceSchema } from './schema-edit.ts';

/** Condition types the controller writes on every kind. */
export const CONDITION = {
  /** The spec passed the compiler's semantic checks (False: `reason` says which check failed). */
  accepted: 'Accepted',
  /** The object is in effect: accepted and distributed (for policies: enforced by its workloads). */
  ready: 'Ready',
} as const;
export type ConditionType = (typeof CONDITION)[keyof typeof CONDITION];

/** metav1.Condition, field for field, with the bounds the upstream type declares. */
export const conditionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  properties: {
    type: {
      type: 'string',
      description: 'Condition type in CamelCase, e.g. Accepted or Ready.',
      maxLength: 316,
      pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: {
      type: 'integer',
      minimum: 0,
      description: 'metadata.generation the condition was computed from; older than the current generation means stale.',
    },
    lastTransitionTime: { type: 'string', format: 'date-time', description: 'When status last changed.' },
    reason: {
      type: 'string',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
      description: 'Stable, machine-readable CamelCase reason for the last transition.',
    },
    message: { type: 'string', maxLength: 32768, description: 'Human-readable detail; never contains tokens or patient data.' },
  },
} as const;

/** At most this many conditions per object (a handful of types exist). */
const MAX_CONDITIONS = 16;

/** A kind's status schema: conditions, observedGeneration and the kind's own fields. */
export function statusSchema(extra: Readonly<Record<string, SourceSchema>>): SourceSchema {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      observedGeneration: {
        type: 'integer',
        minimum: 0,
        description: 'metadata.generation the controller last processed.',
      },
      conditions: {
        type: 'array',
        maxItems: MAX_CONDITIONS,
        description: 'Accepted (passed semantic checks) and Ready (in effect).',
        items: conditionSchema,
      },
      ...extra,
    },
  };
}

/** Conditions are keyed by type, as in every built-in kind (server-side apply merges them by key). */
export const CONDITIONS_OVERLAY: Overlay = { path: ['status', 'conditions'], listType: { type: 'map', keys: ['type'] } };

/** A printer column showing one condition's status. */
export function conditionColumn(type: ConditionType): { name: string; type: 'string'; jsonPath: string } {
  return { name: type, type: 'string', jsonPath: `.status.conditions[?(@.type=="${type}")].status` };
}
