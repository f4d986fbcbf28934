/**
 * FhirAccessPolicy: the spec schema is `policySpecSchema` from src/policy/spec.ts, converted —
 * the same document `fhirgate lint` checks. What is added here is only what the API server can
 * enforce on its own (CEL rules mirroring checks of the policy compiler, list keys matching its
 * duplicate checks) and the status the controller writes.
 */
import { patientCompartmentTypes } from '../../fhir/compartment.ts';
import { POLICY_KIND, policySpecSchema } from '../../policy/spec.ts';
import type { KindDefinition } from '../crd.ts';
import { CONDITION, CONDITIONS_OVERLAY, conditionColumn, statusSchema } from '../status.ts';

/** The compiler's default `maxCount`, read from the schema so the CEL rule cannot drift from it. */
const DEFAULT_MAX_COUNT: number = policySpecSchema.properties.search.properties.maxCount.default;

/** Patient, and every type in the Patient compartment: never "non-compartment" types. */
const COMPARTMENT_TYPES = ['Patient', ...patientCompartmentTypes().filter((t) => t !== 'Patient')];

export const fhirAccessPolicyStatusSchema = statusSchema({
  policyHash: {
    type: 'string',
    pattern: '^[0-9a-f]{64}$',
    description: 'sha256 of the accepted spec: the version sidecars must run.',
  },
  enforcedBy: {
    type: 'object',
    additionalProperties: false,
    description: 'How many selected workloads run policyHash (current) out of all selected (total).',
    required: ['current', 'total'],
    properties: {
      current: { type: 'integer', minimum: 0, maximum: 1_000_000 },
      total: { type: 'integer', minimum: 0, maximum: 1_000_000 },
    },
  },
});

export const fhirAccessPolicyKind: KindDefinition = {
  kind: POLICY_KIND,
  plural: 'fhiraccesspolicies',
  singular: 'fhiraccesspolicy',
  shortNames: ['fap'],
  description:
    'FhirAccessPolicy decides which SMART-on-FHIR requests reach the FHIR server under a base path. Deny by default: what no rule allows is refused.',
  specDescription: 'The policy. The same document works with kubectl and with fhirgate lint, explain and test.',
  spec: policySpecSchema,
  status: fhirAccessPolicyStatusSchema,
  overlays: [
    CONDITIONS_OVERLAY,
    {
      path: ['spec', 'search'],
      validations: [
        {
          rule: `!has(self.defaultCount) || self.defaultCount <= (has(self.maxCount) ? self.maxCount : ${DEFAULT_MAX_COUNT})`,
          message: 'search.defaultCount must not exceed search.maxCount',
          fieldPath: '.defaultCount',
        },
      ],
    },
    {
      path: ['spec', 'patientCompartment'],
      validations: [
        {
          rule: `!has(self.nonCompartmentTypes) || !self.nonCompartmentTypes.exists(t, t in ${JSON.stringify(COMPARTMENT_TYPES)})`,
          message: 'patientCompartment.nonCompartmentTypes must not list Patient or a type in the Patient compartment',
          fieldPath: '.nonCompartmentTypes',
        },
      ],
    },
    // The compiler refuses duplicates of these keys; as list-map keys the API server does too,
    // and server-side apply merges the entries by key instead of replacing the whole list.
    { path: ['spec', 'clients'], listType: { type: 'map', keys: ['clientId'] } },
    { path: ['spec', 'operations'], listType: { type: 'map', keys: ['name'] } },
  ],
  printerColumns: [
    { name: 'Base Path', type: 'string', jsonPath: '.spec.fhirBasePath' },
    conditionColumn(CONDITION.accepted),
    conditionColumn(CONDITION.ready),
    { name: 'Enforced', type: 'integer', jsonPath: '.status.enforcedBy.current', description: 'Workloads running the current version.' },
    { name: 'Workloads', type: 'integer', jsonPath: '.status.enforcedBy.total', description: 'Workloads the policy applies to.', priority: 1 },
  ],
};
