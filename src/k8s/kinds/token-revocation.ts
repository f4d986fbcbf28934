/**
 * TokenRevocation: a set of revocations (by `jti`, by issuer+subject, by client id) applied by
 * every sidecar. A kind of its own rather than a field of TrustedIssuer, so that revoking is a
 * separate, auditable write that RBAC can grant to an incident responder without the right to
 * change issuers. The entry schemas are those of the sidecar configuration's `revocations`
 * (src/token/config.ts); the list bounds are lower, because one object must fit in etcd: larger
 * incidents use several objects.
 */
import { tokenConfigSchema } from '../../token/config.ts';
import type { KindDefinition } from '../crd.ts';
import { propertyOf } from '../schema-edit.ts';
import type { SourceSchema } from '../schema-edit.ts';
import { CONDITION, CONDITIONS_OVERLAY, conditionColumn, statusSchema } from '../status.ts';

const revocations = propertyOf(tokenConfigSchema, 'revocations');

/** Per-object list bounds: 4096 × 256-byte jtis stay near 1 MiB, under etcd's default request limit. */
export const REVOCATION_LIMITS = { jtis: 4096, subjects: 1024, clients: 1024 } as const;

const bounded = (name: keyof typeof REVOCATION_LIMITS, description: string): SourceSchema => ({
  ...propertyOf(revocations, name),
  maxItems: REVOCATION_LIMITS[name],
  description,
});

export const tokenRevocationSpecSchema: SourceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: {
    jtis: bounded('jtis', 'Token ids (jti claim) to reject.'),
    subjects: bounded('subjects', 'Every token of these subjects (per issuer) is rejected.'),
    clients: bounded('clients', 'Every token issued to these client ids is rejected.'),
    reason: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      description: 'Why (e.g. an incident number). Shown in audit events: never a token or patient data.',
    },
    expiresAt: {
      type: 'string',
      format: 'date-time',
      description: 'After this time the revocation is dropped (set it to the latest expiry of the revoked tokens).',
    },
  },
};

export const tokenRevocationStatusSchema = statusSchema({
  entries: { type: 'integer', minimum: 0, maximum: 1_000_000, description: 'Number of revoked jtis, subjects and clients in effect.' },
});

export const tokenRevocationKind: KindDefinition = {
  kind: 'TokenRevocation',
  plural: 'tokenrevocations',
  singular: 'tokenrevocation',
  shortNames: ['trev'],
  description:
    'TokenRevocation makes every sidecar reject the listed tokens (by jti), subjects or clients, checked on every request, even for tokens already cached as valid.',
  specDescription: 'What to revoke; at least one jti, subject or client.',
  spec: tokenRevocationSpecSchema,
  status: tokenRevocationStatusSchema,
  overlays: [
    CONDITIONS_OVERLAY,
    {
      path: ['spec'],
      validations: [
        {
          rule:
            '(has(self.jtis) ? size(self.jtis) : 0) + (has(self.subjects) ? size(self.subjects) : 0) + (has(self.clients) ? size(self.clients) : 0) > 0',
          message: 'list at least one jti, subject or client',
        },
      ],
    },
  ],
  printerColumns: [
    { name: 'Entries', type: 'integer', jsonPath: '.status.entries' },
    { name: 'Expires', type: 'date', jsonPath: '.spec.expiresAt' },
    conditionColumn(CONDITION.ready),
  ],
};
