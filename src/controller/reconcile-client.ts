/**
 * SmartClient → the per-client entry of a bundle: scope ceiling, certificate binding and
 * quarantine. Scopes are parsed by the same SMART grammar the sidecar uses (parseScope), so a
 * ceiling the sidecar could not read is rejected here, with the field named.
 *
 * The quarantine lives in status (written by src/detect/ or an operator), not in spec: it is read
 * here, and the controller re-reconciles when it changes (see controller.ts, `relevantChange`).
 */
import { parseScope } from '../smart/scopes.ts';
import type { SmartClientSpec, SmartClientStatus } from '../k8s/types.ts';
import type { BundleContent } from './desired-state.ts';
import type { CachedObject, KindReconciler, Verdict } from './reconcile.ts';

export type ClientEntry = BundleContent['clients'][number];

const THUMBPRINT = /^[A-Za-z0-9_-]{43}$/;

export function evaluateClient(obj: CachedObject): Verdict {
  const spec = obj.spec as SmartClientSpec | undefined;
  if (spec === undefined || spec === null || typeof spec !== 'object') return { accepted: false, reason: 'InvalidSpec', message: 'spec: must be an object' };
  if (typeof spec.clientId !== 'string' || spec.clientId === '') return { accepted: false, reason: 'InvalidSpec', message: 'spec.clientId: required' };
  if (!Array.isArray(spec.scopeCeiling)) return { accepted: false, reason: 'InvalidSpec', message: 'spec.scopeCeiling: must be a list' };
  for (const [i, raw] of spec.scopeCeiling.entries()) {
    if (typeof raw !== 'string' || parseScope(raw).kind === 'invalid') {
      return { accepted: false, reason: 'InvalidSpec', message: `spec.scopeCeiling[${i}]: ${JSON.stringify(raw)} is not a valid SMART scope` };
    }
  }
  const thumbprints = spec.certificateThumbprints ?? [];
  for (const [i, t] of thumbprints.entries()) {
    if (typeof t !== 'string' || !THUMBPRINT.test(t)) {
      return { accepted: false, reason: 'InvalidSpec', message: `spec.certificateThumbprints[${i}]: must be a base64url SHA-256 thumbprint (43 characters)` };
    }
  }
  const requireBinding = spec.requireCertificateBinding === true;
  if (thumbprints.length > 0 && !requireBinding) {
    return { accepted: false, reason: 'InvalidSpec', message: 'spec.certificateThumbprints: need requireCertificateBinding: true' };
  }
  const status = obj.status as SmartClientStatus | undefined;
  const entry: ClientEntry = {
    clientId: spec.clientId,
    scopeCeiling: [...spec.scopeCeiling],
    requireCertificateBinding: requireBinding,
    certificateThumbprints: [...thumbprints],
    quarantined: status?.quarantined === true,
  };
  return { accepted: true, value: entry };
}

export const clientReconciler: KindReconciler = {
  kind: 'SmartClient',
  rejectedEvent: 'ClientRejected',
  evaluate: evaluateClient,
  // A bundle keys clients by id: two SmartClients for one id would be ambiguous.
  claim: (obj) => {
    const id = (obj.spec as { clientId?: unknown } | undefined)?.clientId;
    return typeof id === 'string' ? id : undefined;
  },
  claimField: 'spec.clientId',
};
