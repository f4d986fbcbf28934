/**
 * Search guardrails that hold whatever the grant: `_has` (an inference oracle: "which patients
 * have an Observation with code X" leaks through result counts), chained parameters, `_filter`,
 * `_query`, `_contained`, GraphQL, required parameters per type, and `_include`/`_revinclude`
 * reaching types the token was not granted.
 */
import type { ReasonCode } from '../core/reasons.ts';
import { isInPatientCompartment } from '../fhir/compartment.ts';
import type { FhirRequest } from '../fhir/request.ts';
import type { Include } from '../fhir/search.ts';
import type { CompiledPolicy } from './compile.ts';

const SEARCH_INTERACTIONS = new Set(['search-type', 'search-system', 'search-compartment']);

export function isSearch(fhir: FhirRequest): boolean {
  return SEARCH_INTERACTIONS.has(fhir.interaction);
}

/** Checks that need only the request and the policy. */
export function searchGuardrails(policy: CompiledPolicy, fhir: FhirRequest): ReasonCode | undefined {
  const g = policy.search;
  if (fhir.interaction === 'operation-system' || fhir.interaction === 'operation-type' || fhir.interaction === 'operation-instance') {
    if (fhir.operation === 'graphql') return 'search_feature_denied';
  }
  for (const p of fhir.search.params) {
    if (p.name === '_has' || p.has !== undefined) {
      if (!g.allowHas) return 'search_has_denied';
    }
    if (p.chain.length > g.maxChainDepth) return 'search_chain_denied';
    if (p.name === '_filter' && !g.allowFilter) return 'search_feature_denied';
    if (p.name === '_query' && !g.allowQuery) return 'search_feature_denied';
  }
  const r = fhir.search.result;
  if (r.contained !== undefined && r.contained !== 'false' && !g.allowContained) return 'search_feature_denied';
  if (!r.include.every(includeShapeAllowed) || !r.revinclude.every(includeShapeAllowed)) return 'search_include_denied';
  if (fhir.interaction === 'search-type' && fhir.resourceType !== undefined) {
    const required = g.requiredParams.get(fhir.resourceType);
    if (required !== undefined && !fhir.search.params.some((p) => required.includes(p.name))) return 'search_param_required';
  }
  return undefined;
}

/** `*`, `:iterate`, `Type:*` and includes without a source type are never allowed. */
function includeShapeAllowed(inc: Include): boolean {
  return !(inc.wildcard || inc.iterate || inc.param === '*' || inc.sourceType === undefined);
}

/**
 * The resource types an include pulls into the response: `_include=Observation:subject:Patient`
 * → Patient (or every target of the parameter when no target type is given); `_revinclude` → the
 * source type. Undefined when it cannot be determined (→ deny).
 */
export function includedTypes(inc: Include, kind: 'include' | 'revinclude', targetsOf: (type: string, param: string) => readonly string[] | undefined): readonly string[] | undefined {
  if (inc.sourceType === undefined || inc.param === undefined) return undefined;
  if (kind === 'revinclude') return [inc.sourceType];
  if (inc.targetType !== undefined) return [inc.targetType];
  const targets = targetsOf(inc.sourceType, inc.param);
  return targets === undefined || targets.length === 0 ? undefined : targets;
}

/** Under a patient-level grant, an included type must be in the compartment or explicitly allowed. */
export function includeAllowedUnderPatient(policy: CompiledPolicy, type: string): boolean {
  return type === 'Patient' || isInPatientCompartment(type) || policy.compartment.nonCompartmentTypes.has(type);
}
