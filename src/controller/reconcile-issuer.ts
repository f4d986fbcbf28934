/**
 * TrustedIssuer → the IssuerConfig a sidecar's token layer loads, validated by the SAME schema and
 * resolver as the sidecar's file configuration (resolveTokenConfig).
 *
 * Secret convention: `introspection.clientSecretRef {name, key}` becomes
 * `clientSecretFile: /var/run/fhirgate/secrets/<namespace>/<secret name>/<key>`. The sidecar (or
 * its injected volume) mounts Secret `<secret name>` of the issuer's namespace at
 * `/var/run/fhirgate/secrets/<namespace>/<secret name>/`; the secret value never passes through
 * the controller or the bundle, only its path does.
 *
 * Cluster issuers are https only. The CRD's CEL rules say so too; the controller checks again so
 * a CRD installed without its rules cannot let an http issuer through.
 */
import { TokenConfigError, resolveTokenConfig } from '../token/config.ts';
import type { IntrospectionConfig, IssuerConfig } from '../token/config.ts';
import type { TrustedIssuerSpec } from '../k8s/types.ts';
import type { CachedObject, KindReconciler, Verdict } from './reconcile.ts';

export const SECRET_MOUNT_ROOT = '/var/run/fhirgate/secrets';

/** Where a sidecar finds key `key` of Secret `secretName` in `namespace`. */
export function secretFilePath(namespace: string, secretName: string, key: string): string {
  return `${SECRET_MOUNT_ROOT}/${namespace}/${secretName}/${key}`;
}

const SAFE_SEGMENT = /^[A-Za-z0-9]([-._A-Za-z0-9]*[A-Za-z0-9_])?$|^[A-Za-z0-9]$/;

/** Builds the IssuerConfig, or says which field stops it. */
export function issuerConfig(namespace: string, spec: TrustedIssuerSpec): IssuerConfig | { error: string } {
  if (spec === null || typeof spec !== 'object') return { error: 'spec: must be an object' };
  const raw = spec as TrustedIssuerSpec & { allowInsecureLoopback?: unknown };
  if ('allowInsecureLoopback' in raw) return { error: 'spec.allowInsecureLoopback: not allowed in a cluster' };
  for (const [field, value] of [
    ['spec.issuer', raw.issuer],
    ['spec.jwksUri', raw.jwksUri],
    ['spec.introspection.endpoint', raw.introspection?.endpoint],
  ] as const) {
    if (value !== undefined && (typeof value !== 'string' || !value.startsWith('https://'))) return { error: `${field}: must be an https:// URL` };
  }
  const { introspection, allowInsecureLoopback: _dropped, ...rest } = raw;
  if (introspection === undefined) return { ...rest };
  const { clientSecretRef, ...intro } = introspection;
  if (clientSecretRef === undefined || typeof clientSecretRef !== 'object') return { error: 'spec.introspection.clientSecretRef: required' };
  const { name, key } = clientSecretRef;
  // These become path segments: refuse anything that could climb out of the mount root.
  if (typeof name !== 'string' || !SAFE_SEGMENT.test(name) || name.includes('..')) return { error: 'spec.introspection.clientSecretRef.name: not a valid Secret name' };
  if (typeof key !== 'string' || !SAFE_SEGMENT.test(key) || key.includes('..')) return { error: 'spec.introspection.clientSecretRef.key: not a valid Secret key' };
  const mapped: IntrospectionConfig = { ...intro, clientSecretFile: secretFilePath(namespace, name, key) };
  return { ...rest, introspection: mapped };
}

/** `auth/issuers/0/jwks/timeoutMs: must be >= 50` → `spec.jwks.timeoutMs: must be >= 50`. */
function specMessage(message: string): string {
  return message
    .replace(/^auth\/issuers\/0(\/[^:]*)?/, (_m, rest: string | undefined) => `spec${(rest ?? '').replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.')}`)
    .replace(/^spec\.introspection\.clientSecretFile/, 'spec.introspection.clientSecretRef');
}

export function evaluateIssuer(obj: CachedObject): Verdict {
  const cfg = issuerConfig(obj.metadata?.namespace ?? '', obj.spec as TrustedIssuerSpec);
  if ('error' in cfg) return { accepted: false, reason: 'InvalidSpec', message: cfg.error };
  try {
    resolveTokenConfig({ issuers: [cfg] });
  } catch (err) {
    if (err instanceof TokenConfigError) return { accepted: false, reason: 'InvalidSpec', message: specMessage(err.message) };
    throw err;
  }
  return { accepted: true, value: cfg };
}

export const issuerReconciler: KindReconciler = {
  kind: 'TrustedIssuer',
  rejectedEvent: 'IssuerRejected',
  evaluate: evaluateIssuer,
  // Sidecars refuse a token configuration with one `iss` twice.
  claim: (obj) => {
    const iss = (obj.spec as { issuer?: unknown } | undefined)?.issuer;
    return typeof iss === 'string' ? iss : undefined;
  },
  claimField: 'spec.issuer',
};
