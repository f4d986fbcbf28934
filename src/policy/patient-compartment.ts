/**
 * Patient-compartment enforcement for patient-level grants (SMART `patient/…` scopes): a request
 * passes only when it is confined to the launch patient. Driven by HL7's Patient
 * CompartmentDefinition (src/fhir/generated), never by a hand-written list.
 *
 *   Patient read/vread/history/update/delete      id must be the launch patient
 *   search on a compartment type                  every value of a compartment parameter must be
 *                                                 the launch patient; none → narrow (rewrite) or deny
 *   Patient/<id>/<type> compartment search        id must be the launch patient
 *   instance access on other compartment types    'verify' (obligation: ask the FHIR server) or deny
 *   create/update bodies                          checked by the body phase (compartment references)
 *   types outside the compartment                 only those the policy lists, read/search only
 */
import type { Obligation } from '../core/decision.ts';
import type { ReasonCode } from '../core/reasons.ts';
import { patientCompartmentParams } from '../fhir/compartment.ts';
import { R4_RESOURCE_TYPES } from '../fhir/generated/resource-types.ts';
import { EMPTY } from '../fhir/lists.ts';
import { patientIdOf } from '../fhir/reference.ts';
import type { FhirRequest } from '../fhir/request.ts';
import { referenceTargets } from '../fhir/search-params.ts';
import type { SearchParam } from '../fhir/search.ts';
import type { CompiledPolicy } from './compile.ts';

export type CompartmentOutcome =
  | {
      readonly ok: true;
      readonly set: ReadonlyArray<readonly [string, string]>;
      readonly obligations: readonly Obligation[];
      /** How the request was confined, for explain: 'id', 'param:<name>', 'narrowed:<name>', 'verify', 'non-compartment'. */
      readonly how: string;
    }
  | { readonly ok: false; readonly reason: ReasonCode };

const ok = (how: string, set: ReadonlyArray<readonly [string, string]> = EMPTY, obligations: readonly Obligation[] = EMPTY): CompartmentOutcome => ({
  ok: true,
  set,
  obligations,
  how,
});
const no = (reason: ReasonCode): CompartmentOutcome => ({ ok: false, reason });

/** The outcomes that carry neither rewrite nor obligation, made once and shared by every request. */
const CONFINED = {
  id: Object.freeze(ok('id')),
  param: Object.freeze(ok('param')),
  compartment: Object.freeze(ok('compartment')),
  body: Object.freeze(ok('body')),
  nonCompartment: Object.freeze(ok('non-compartment')),
} as const;

/**
 * Obligation kind: before forwarding, fhirgate-authz must confirm with the FHIR server that the
 * instance matches `criteria` (a search query string, e.g. `patient=Patient%2F123`), by searching
 * `[type]?_id=<id>&<criteria>&_summary=count`. Used for compartment membership and for granular
 * scope restrictions on reads.
 */
export const VERIFY_INSTANCE = 'verify-instance';

type Confinement = 'confined' | 'other-patient' | 'unconfined';

/**
 * Whether the search is confined to `patient` by the compartment parameters of `type`.
 * One parameter whose every OR-value references the patient confines (parameters are ANDed);
 * any compartment parameter that names another patient is a violation, even next to a confining one.
 */
export function searchConfinement(policy: CompiledPolicy, fhir: FhirRequest, type: string, patient: string): Confinement {
  const params = confiningParams(type);
  let confined = false;
  for (const p of fhir.search.params) {
    if (!params.includes(p.name)) continue;
    const verdict = paramConfinement(policy, type, p, patient);
    if (verdict === 'other-patient') return 'other-patient';
    if (verdict === 'confined') confined = true;
  }
  return confined ? 'confined' : 'unconfined';
}

function paramConfinement(policy: CompiledPolicy, type: string, p: SearchParam, patient: string): Confinement {
  if (p.chain.length > 0 || p.has !== undefined || p.values.length === 0) return 'unconfined';
  if (p.name === '_id') {
    if (p.modifier !== undefined) return 'unconfined';
    for (const v of p.values) if (v.value !== patient) return 'other-patient';
    return 'confined';
  }
  const targets = referenceTargets(type, p.name);
  // :missing, :not, :text … do not confine; a type modifier other than Patient names no patient.
  if (p.modifier !== undefined && p.modifier !== 'Patient') {
    if (p.modifier !== 'not') return 'unconfined';
    for (const v of p.values) if (patientIdOf(v.value, targets, p.modifier, policy.baseUrl) !== undefined) return 'other-patient';
    return 'unconfined';
  }
  let all = true;
  for (const v of p.values) {
    const id = patientIdOf(v.value, targets, p.modifier, policy.baseUrl);
    if (id !== undefined && id !== patient) return 'other-patient';
    if (id !== patient) all = false;
  }
  return all ? 'confined' : 'unconfined';
}

/**
 * Parameters that confine a search on `type` to one patient: the CompartmentDefinition's
 * parameters plus, where the type defines it, the `patient` parameter (R4 lists e.g. only
 * `subject` and `performer` for Observation, but `patient` is `subject` restricted to Patient).
 */
export function confiningParams(type: string): readonly string[] {
  return CONFINING_PARAMS.get(type) ?? confiningParamsOf(type);
}

function confiningParamsOf(type: string): readonly string[] {
  if (type === 'Patient') return ['_id'];
  const params = patientCompartmentParams(type) ?? [];
  const patientParam = referenceTargets(type, 'patient');
  return patientParam.length === 1 && patientParam[0] === 'Patient' && !params.includes('patient') ? [...params, 'patient'] : params;
}

/** confiningParams of every R4 type, worked out once at load and shared (readonly, not frozen: see EMPTY). */
const CONFINING_PARAMS: ReadonlyMap<string, readonly string[]> = new Map(
  R4_RESOURCE_TYPES.map((t) => [t, confiningParamsOf(t)] as const),
);

/** The parameter to add when narrowing a search on `type` to the patient, with its value form. */
export function narrowingParam(type: string, patient: string): readonly [string, string] | undefined {
  if (type === 'Patient') return ['_id', patient];
  const params = confiningParams(type);
  if (params.includes('patient')) return ['patient', `Patient/${patient}`];
  for (const name of params) {
    if (referenceTargets(type, name).includes('Patient')) return [name, `Patient/${patient}`];
  }
  return undefined;
}

export interface CompartmentInput {
  readonly policy: CompiledPolicy;
  readonly fhir: FhirRequest;
  readonly patient: string;
  /** False inside batch/transaction entries and for POST _search: no query rewrite possible. */
  readonly mayRewrite: boolean;
}

export function enforcePatientCompartment(input: CompartmentInput): CompartmentOutcome {
  const { policy, fhir, patient } = input;
  const type = fhir.resourceType;
  if (type === undefined) return no('patient_compartment_unconfined');
  const inCompartment = type === 'Patient' || patientCompartmentParams(type) !== undefined;

  switch (fhir.interaction) {
    case 'read':
    case 'vread':
    case 'history-instance':
    case 'update':
    case 'patch':
    case 'delete': {
      if (fhir.conditional) return searchOnly(input, type, inCompartment, false);
      if (type === 'Patient') return fhir.id === patient ? CONFINED.id : no('patient_compartment_violation');
      if (!inCompartment) {
        const readOnly = fhir.interaction === 'read' || fhir.interaction === 'vread' || fhir.interaction === 'history-instance';
        return readOnly && policy.compartment.nonCompartmentTypes.has(type) ? CONFINED.nonCompartment : no('compartment_type_not_allowed');
      }
      const param = narrowingParam(type, patient);
      if (policy.compartment.instanceAccess !== 'verify' || fhir.id === undefined || param === undefined) {
        return no('compartment_instance_unverifiable');
      }
      const criteria = `${param[0]}=${encodeURIComponent(param[1])}`;
      return ok('verify', [], [{ kind: VERIFY_INSTANCE, detail: { resourceType: type, id: fhir.id, criteria } }]);
    }
    case 'create':
      if (fhir.conditional && searchConfinement(policy, fhir, type, patient) === 'other-patient') return no('patient_compartment_violation');
      // The body phase checks that the new resource references the launch patient.
      return inCompartment && type !== 'Patient' ? CONFINED.body : no('compartment_type_not_allowed');
    case 'search-type':
      return searchOnly(input, type, inCompartment, true);
    case 'search-compartment': {
      const c = fhir.compartment;
      if (c === undefined || c.type !== 'Patient' || c.id !== patient) return no('patient_compartment_violation');
      if (c.targetType !== '*' && patientCompartmentParams(c.targetType) === undefined && c.targetType !== 'Patient') {
        return no('compartment_type_not_allowed');
      }
      return CONFINED.compartment;
    }
    case 'operation-instance':
      if (type === 'Patient') return fhir.id === patient ? CONFINED.id : no('patient_compartment_violation');
      return no('compartment_instance_unverifiable');
    case 'history-type':
      return inCompartment ? no('patient_compartment_unconfined') : policy.compartment.nonCompartmentTypes.has(type) ? CONFINED.nonCompartment : no('compartment_type_not_allowed');
    default:
      return no('patient_compartment_unconfined');
  }
}

function searchOnly(input: CompartmentInput, type: string, inCompartment: boolean, canNarrow: boolean): CompartmentOutcome {
  const { policy, fhir, patient } = input;
  if (!inCompartment) {
    return policy.compartment.nonCompartmentTypes.has(type) && fhir.interaction === 'search-type'
      ? CONFINED.nonCompartment
      : no('compartment_type_not_allowed');
  }
  const c = searchConfinement(policy, fhir, type, patient);
  if (c === 'confined') return CONFINED.param;
  if (c === 'other-patient') return no('patient_compartment_violation');
  if (canNarrow && input.mayRewrite && policy.compartment.narrowSearches) {
    const param = narrowingParam(type, patient);
    // Never overwrite a parameter the client sent: a rewrite replaces every value of its name.
    if (param !== undefined && !fhir.query.some(([n]) => n === param[0])) return ok(`narrowed:${param[0]}`, [param]);
  }
  return no('patient_compartment_unconfined');
}
