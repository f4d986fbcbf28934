/** Builds a compiled policy engine from a spec fragment, for tests. */
import { compilePolicy } from '../../src/policy/compile.ts';
import { PolicyEngine } from '../../src/policy/engine.ts';
import type { FhirAccessPolicySpec } from '../../src/policy/spec.ts';

export function policyDoc(spec: Partial<FhirAccessPolicySpec> = {}, name = 'test') {
  return { apiVersion: 'fhirgate.io/v1alpha1', kind: 'FhirAccessPolicy', metadata: { name }, spec: { fhirBasePath: '/fhir', ...spec } };
}

export function engine(spec: Partial<FhirAccessPolicySpec> = {}): PolicyEngine {
  const r = compilePolicy(policyDoc(spec));
  if (!r.ok) throw new Error(`test policy does not compile: ${JSON.stringify(r.errors)}`);
  return new PolicyEngine(r.policy);
}
