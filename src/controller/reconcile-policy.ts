/**
 * FhirAccessPolicy → the policy document sidecars enforce. Accepted only when the SAME compiler
 * the sidecar and `fhirgate lint` use (compilePolicy) compiles it, so "Accepted=True" means "a
 * sidecar will load this". A compile error's message names the field (`spec.roles.rules[0]…`).
 */
import { compilePolicy } from '../policy/compile.ts';
import { API_VERSION, POLICY_KIND } from '../policy/spec.ts';
import type { FhirAccessPolicyDocument, FhirAccessPolicySpec } from '../policy/spec.ts';
import { fieldPath } from './reconcile.ts';
import type { CachedObject, KindReconciler, Verdict } from './reconcile.ts';

/** At most this many compile errors are listed in the condition message. */
const MAX_LISTED = 5;

export function policyDocument(obj: CachedObject): FhirAccessPolicyDocument {
  return {
    apiVersion: API_VERSION,
    kind: POLICY_KIND,
    metadata: { name: obj.metadata?.name ?? '', namespace: obj.metadata?.namespace ?? '' },
    spec: obj.spec as FhirAccessPolicySpec,
  };
}

export function evaluatePolicy(obj: CachedObject): Verdict {
  const doc = policyDocument(obj);
  const result = compilePolicy(doc);
  if (!result.ok) {
    const listed = result.errors.slice(0, MAX_LISTED).map((e) => `${fieldPath(e.path)}: ${e.message}`);
    const more = result.errors.length > MAX_LISTED ? ` (and ${result.errors.length - MAX_LISTED} more)` : '';
    return { accepted: false, reason: 'InvalidSpec', message: `${listed.join('; ')}${more}` };
  }
  return { accepted: true, value: doc, status: { policyHash: result.policy.hash } };
}

/** Two policies in one namespace for the same FHIR base path would make enforcement ambiguous. */
function basePathClaim(obj: CachedObject): string | undefined {
  const p = (obj.spec as { fhirBasePath?: unknown } | undefined)?.fhirBasePath;
  return typeof p === 'string' ? p.replace(/\/+$/, '') || '/' : undefined;
}

export const policyReconciler: KindReconciler = {
  kind: 'FhirAccessPolicy',
  rejectedEvent: 'PolicyRejected',
  evaluate: evaluatePolicy,
  claim: basePathClaim,
  claimField: 'spec.fhirBasePath',
};
