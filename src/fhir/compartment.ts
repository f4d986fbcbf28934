/**
 * The Patient compartment, from HL7's CompartmentDefinition (compiled into
 * src/fhir/generated/patient-compartment.ts). A resource is in patient P's compartment when one of
 * the listed search parameters of its type references P. Patient itself is special: a Patient
 * resource is in its own compartment by id (the `link` parameter adds linked patients).
 */
import { PATIENT_COMPARTMENT } from './generated/patient-compartment.ts';

/**
 * The compartment parameter names for `resourceType`, or undefined when resources of that type are
 * never in a patient's compartment. For `Patient` this is `['link']`; callers must also treat the
 * Patient's own id as membership.
 */
export function patientCompartmentParams(resourceType: string): readonly string[] | undefined {
  return Object.hasOwn(PATIENT_COMPARTMENT, resourceType) ? PATIENT_COMPARTMENT[resourceType] : undefined;
}

/** True when resources of `resourceType` can belong to a patient's compartment. */
export function isInPatientCompartment(resourceType: string): boolean {
  return patientCompartmentParams(resourceType) !== undefined;
}

/** Every resource type in the Patient compartment, sorted. */
export function patientCompartmentTypes(): readonly string[] {
  return Object.keys(PATIENT_COMPARTMENT);
}
