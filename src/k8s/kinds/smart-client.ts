/**
 * SmartClient: one registered OAuth client and what it may ever do, whatever its tokens say.
 * `clientId` and `scopeCeiling` reuse the schemas of a policy's `clients` entries (the same
 * ceiling semantics: tokens are intersected with it). Rate and PHI-quota fields are declared now
 * so objects written today stay valid when the limit phase reads them.
 *
 * Certificate binding (RFC 8705): `requireCertificateBinding` alone means every token of this
 * client must carry `cnf.x5t#S256` matching the mTLS certificate it is presented with — that needs
 * no registered certificate. `certificateThumbprints` additionally pins which certificates are
 * acceptable; pins without the requirement would silently check nothing, so CEL refuses that.
 *
 * The status carries the quarantine that src/detect/ (or an operator) imposes; `clientId` is
 * immutable so a quarantine can never move to another client by editing the spec.
 */
import { policySpecSchema } from '../../policy/spec.ts';
import type { KindDefinition } from '../crd.ts';
import { itemsOf, propertyOf } from '../schema-edit.ts';
import type { SourceSchema } from '../schema-edit.ts';
import { CONDITION, CONDITIONS_OVERLAY, conditionColumn, statusSchema } from '../status.ts';

/** A policy's `clients` entry: the same clientId and scopeCeiling schemas. */
const clientRule = itemsOf(propertyOf(policySpecSchema, 'clients'));

export const smartClientSpecSchema: SourceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['clientId', 'scopeCeiling'],
  properties: {
    clientId: { ...propertyOf(clientRule, 'clientId'), description: 'OAuth client id as tokens name it (client_id, azp or cid).' },
    scopeCeiling: { ...propertyOf(clientRule, 'scopeCeiling'), description: 'The most this client may be granted, as SMART scopes.' },
    requireCertificateBinding: {
      type: 'boolean',
      default: false,
      description: 'Every token of this client must be bound to the mTLS client certificate (RFC 8705).',
    },
    certificateThumbprints: {
      type: 'array',
      maxItems: 16,
      uniqueItems: true,
      description: 'Accepted certificates: base64url SHA-256 thumbprints (x5t#S256). Needs requireCertificateBinding.',
      items: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' },
    },
    rateLimit: {
      type: 'object',
      additionalProperties: false,
      required: ['requestsPerSecond'],
      description: 'Request rate of this client across all workloads (token bucket).',
      properties: {
        requestsPerSecond: { type: 'integer', minimum: 1, maximum: 100_000 },
        burst: { type: 'integer', minimum: 1, maximum: 1_000_000, description: 'Bucket size; defaults to requestsPerSecond.' },
      },
    },
    phiQuota: {
      type: 'object',
      additionalProperties: false,
      required: ['distinctPatientsPerHour'],
      description: 'Bounds on how much patient data this client may reach.',
      properties: {
        distinctPatientsPerHour: { type: 'integer', minimum: 1, maximum: 10_000_000 },
      },
    },
  },
};

export const smartClientStatusSchema = statusSchema({
  quarantined: { type: 'boolean', description: 'True while every request of this client is denied.' },
  quarantineReason: {
    type: 'string',
    maxLength: 256,
    pattern: '^[A-Za-z][A-Za-z0-9_]*$',
    description: 'Stable code of what triggered the quarantine (e.g. a detector name); never patient data.',
  },
  since: { type: 'string', format: 'date-time', description: 'When the quarantine started.' },
});

export const smartClientKind: KindDefinition = {
  kind: 'SmartClient',
  plural: 'smartclients',
  singular: 'smartclient',
  shortNames: ['sc'],
  description:
    'SmartClient registers one SMART-on-FHIR client: its scope ceiling, whether its tokens must be certificate-bound, and its rate and PHI quotas. Its status shows whether it is quarantined.',
  specDescription: 'What this client may ever be granted, and its limits.',
  spec: smartClientSpecSchema,
  status: smartClientStatusSchema,
  overlays: [
    CONDITIONS_OVERLAY,
    { path: ['spec', 'clientId'], validations: [{ rule: 'self == oldSelf', message: 'clientId is immutable; create a new SmartClient' }] },
    {
      path: ['spec'],
      validations: [
        {
          rule: '!has(self.certificateThumbprints) || size(self.certificateThumbprints) == 0 || (has(self.requireCertificateBinding) && self.requireCertificateBinding)',
          message: 'certificateThumbprints need requireCertificateBinding: true',
          fieldPath: '.certificateThumbprints',
        },
      ],
    },
    {
      path: ['status'],
      validations: [
        {
          rule: '!has(self.quarantined) || !self.quarantined || (has(self.since) && has(self.quarantineReason))',
          message: 'a quarantine needs since and quarantineReason',
        },
      ],
    },
  ],
  printerColumns: [
    { name: 'Client ID', type: 'string', jsonPath: '.spec.clientId' },
    { name: 'Quarantined', type: 'boolean', jsonPath: '.status.quarantined' },
    conditionColumn(CONDITION.ready),
  ],
};
