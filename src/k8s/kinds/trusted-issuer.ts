/**
 * TrustedIssuer: one token issuer the sidecars accept, namespaced. The spec is the issuer entry of
 * the sidecar's own token configuration (`tokenConfigSchema` in src/token/config.ts), with two
 * changes that follow from running in a cluster:
 *
 * - `allowInsecureLoopback` is removed. It lets a developer point a sidecar at an issuer on its
 *   own machine over http. In a cluster, "loopback" is the sidecar's pod, never an issuer, and an
 *   http issuer or JWKS would let anyone on the network path mint keys; so cluster issuers are
 *   https only (also enforced by CEL below).
 * - `introspection.clientSecretFile` becomes `introspection.clientSecretRef {name, key}`: a path on
 *   one node's file system means nothing to the controller, a Secret does. The Secret is looked up
 *   in the TrustedIssuer's own namespace only (there is no namespace field), so writing a
 *   TrustedIssuer never gives access to another namespace's Secrets.
 */
import { tokenConfigSchema } from '../../token/config.ts';
import type { KindDefinition } from '../crd.ts';
import { addProperties, editProperty, itemsOf, omitProperties, propertyOf } from '../schema-edit.ts';
import type { SourceSchema } from '../schema-edit.ts';
import { CONDITION, CONDITIONS_OVERLAY, conditionColumn, statusSchema } from '../status.ts';

/** A key of a Secret in the same namespace (Kubernetes' own bounds for both names). */
export const secretKeyRefSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'key'],
  description: 'A key of a Secret in the same namespace as this object.',
  properties: {
    name: { type: 'string', maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' },
    key: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$' },
  },
} as const;

/** Fields of the file-based issuer configuration that have no meaning in a cluster. */
export const LOCAL_ONLY_ISSUER_FIELDS = ['allowInsecureLoopback'] as const;

const issuerItem: SourceSchema = itemsOf(propertyOf(tokenConfigSchema, 'issuers'));

export const trustedIssuerSpecSchema: SourceSchema = editProperty(
  omitProperties(issuerItem, LOCAL_ONLY_ISSUER_FIELDS),
  'introspection',
  (intro) => addProperties(omitProperties(intro, ['clientSecretFile']), { clientSecretRef: secretKeyRefSchema }, ['clientSecretRef']),
);

export const trustedIssuerStatusSchema = statusSchema({});

const httpsRule = (field: string) => ({
  rule: `!has(self.${field}) || self.${field}.startsWith('https://')`,
  message: `${field} must be an https:// URL`,
  fieldPath: `.${field}`,
});

export const trustedIssuerKind: KindDefinition = {
  kind: 'TrustedIssuer',
  plural: 'trustedissuers',
  singular: 'trustedissuer',
  shortNames: ['tiss'],
  description:
    'TrustedIssuer pins one OAuth 2.0 / OpenID Connect token issuer: its exact iss value, where its keys come from, the audiences and algorithms accepted, and optional RFC 7662 introspection.',
  specDescription: 'The issuer, as in the sidecar configuration file, minus local-only fields; https only.',
  spec: trustedIssuerSpecSchema,
  status: trustedIssuerStatusSchema,
  overlays: [
    CONDITIONS_OVERLAY,
    {
      path: ['spec'],
      validations: [
        { rule: "self.issuer.startsWith('https://')", message: 'issuer must be an https:// URL', fieldPath: '.issuer' },
        httpsRule('jwksUri'),
        {
          rule: '!(has(self.jwksUri) && has(self.discovery) && self.discovery)',
          message: 'set either jwksUri or discovery, not both',
        },
        {
          rule: 'has(self.jwksUri) || has(self.introspection) || !has(self.discovery) || self.discovery',
          message: 'an issuer needs a key source: jwksUri, discovery or introspection',
        },
      ],
    },
    { path: ['spec', 'introspection'], validations: [httpsRule('endpoint')] },
  ],
  printerColumns: [
    { name: 'Issuer', type: 'string', jsonPath: '.spec.issuer' },
    conditionColumn(CONDITION.accepted),
    conditionColumn(CONDITION.ready),
  ],
};
