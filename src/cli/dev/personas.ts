/**
 * The named callers the demo issuer mints tokens for. Each one exists to show one outcome of the
 * first policy slice: a patient-facing app and a clinician are allowed to read observations, a
 * backend partner system reads with a system scope, and an app without FHIR scopes gets a 403.
 * Synthetic identities only; the patient ids match the sample FHIR server's data.
 */

export interface Persona {
  /** Name used on the token endpoint (`GET /token/<name>`). */
  readonly name: string;
  readonly description: string;
  readonly subject: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  /** SMART launch context: the patient the app was launched for. */
  readonly patient?: string;
  /** SMART `fhirUser` claim. */
  readonly fhirUser?: string;
}

export const DEMO_PATIENT_ID = 'example-patient-1';

export const PERSONAS: Readonly<Record<string, Persona>> = Object.freeze({
  'patient-app': {
    name: 'patient-app',
    description: `patient-facing app launched for ${DEMO_PATIENT_ID}`,
    subject: 'patient-user-1',
    clientId: 'demo-patient-app',
    scopes: ['openid', 'fhirUser', 'launch/patient', 'patient/Observation.rs', 'patient/Patient.r'],
    patient: DEMO_PATIENT_ID,
    fhirUser: `Patient/${DEMO_PATIENT_ID}`,
  },
  clinician: {
    name: 'clinician',
    description: 'clinician app with read/search on every resource type',
    subject: 'practitioner-user-1',
    clientId: 'demo-clinician-app',
    scopes: ['openid', 'fhirUser', 'user/*.rs'],
    fhirUser: 'Practitioner/example-practitioner-1',
  },
  partner: {
    name: 'partner',
    description: 'backend partner system reading observations',
    subject: 'demo-partner-system',
    clientId: 'demo-partner-system',
    scopes: ['system/Observation.rs'],
  },
  'no-scope': {
    name: 'no-scope',
    description: 'app without any FHIR scope (expect 403)',
    subject: 'no-scope-user-1',
    clientId: 'demo-no-fhir-app',
    scopes: ['openid', 'profile'],
  },
});

/** The persona by name, or undefined for an unknown (or inherited-property) name. */
export function persona(name: string): Persona | undefined {
  return Object.hasOwn(PERSONAS, name) ? PERSONAS[name] : undefined;
}
