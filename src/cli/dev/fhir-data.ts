/**
 * Synthetic FHIR R4 data for the sample server: three patients with a few vital-sign
 * observations each. Invented names and values; no real person is described.
 */

export type FhirResource = Readonly<Record<string, unknown>> & { readonly resourceType: string; readonly id: string };

function patient(id: string, family: string, given: string, birthDate: string, gender: string): FhirResource {
  return {
    resourceType: 'Patient',
    id,
    meta: { versionId: '1' },
    active: true,
    name: [{ use: 'official', family, given: [given] }],
    gender,
    birthDate,
  };
}

function observation(id: string, patientId: string, code: string, display: string, value: number, unit: string, date: string): FhirResource {
  return {
    resourceType: 'Observation',
    id,
    meta: { versionId: '1' },
    status: 'final',
    category: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }],
      },
    ],
    code: { coding: [{ system: 'http://loinc.org', code, display }], text: display },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: date,
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
  };
}

/** A fresh copy of the data set (the server may add to it). */
export function sampleResources(): FhirResource[] {
  return [
    patient('example-patient-1', 'Testperson', 'Ada', '1980-04-02', 'female'),
    patient('example-patient-2', 'Sampleton', 'Ben', '1975-11-23', 'male'),
    patient('example-patient-3', 'Demonstra', 'Cleo', '2001-07-14', 'other'),
    observation('obs-hr-1', 'example-patient-1', '8867-4', 'Heart rate', 72, '/min', '2026-01-05T09:30:00Z'),
    observation('obs-wt-1', 'example-patient-1', '29463-7', 'Body weight', 64.5, 'kg', '2026-01-05T09:31:00Z'),
    observation('obs-bp-1', 'example-patient-1', '8480-6', 'Systolic blood pressure', 118, 'mm[Hg]', '2026-01-05T09:32:00Z'),
    observation('obs-hr-2', 'example-patient-2', '8867-4', 'Heart rate', 81, '/min', '2026-01-06T14:00:00Z'),
    observation('obs-wt-2', 'example-patient-2', '29463-7', 'Body weight', 90.1, 'kg', '2026-01-06T14:02:00Z'),
    observation('obs-hr-3', 'example-patient-3', '8867-4', 'Heart rate', 66, '/min', '2026-01-07T08:15:00Z'),
  ];
}

/** The CapabilityStatement served at `<base>/metadata`. */
export function capabilityStatement(baseUrl: string): FhirResource {
  const searchParams = [
    { name: 'patient', type: 'reference' },
    { name: 'subject', type: 'reference' },
    { name: '_count', type: 'number' },
  ];
  return {
    resourceType: 'CapabilityStatement',
    id: 'fhirgate-sample',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    software: { name: 'fhirgate sample FHIR server' },
    implementation: { description: 'In-memory synthetic data for the fhirgate demo', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json'],
    rest: [
      {
        mode: 'server',
        resource: ['Patient', 'Observation'].map((type) => ({
          type,
          interaction: [{ code: 'read' }, { code: 'search-type' }, { code: 'create' }],
          searchParam: type === 'Observation' ? searchParams : [{ name: '_id', type: 'token' }, searchParams[2]],
        })),
      },
    ],
  };
}
