import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { GENERATED_DIR, generateFhirTables } from '../../../scripts/gen-fhir-tables.ts';
import { PATIENT_COMPARTMENT } from '../../../src/fhir/generated/patient-compartment.ts';
import { R4_RESOURCE_TYPES } from '../../../src/fhir/generated/resource-types.ts';
import { SEARCH_PARAMETERS } from '../../../src/fhir/generated/search-parameters.ts';

test('committed FHIR tables match a fresh generation (run `node scripts/gen-fhir-tables.ts` if this fails)', () => {
  const files = generateFhirTables();
  assert.deepEqual([...files.keys()].sort(), ['patient-compartment.ts', 'resource-types.ts', 'search-parameters.ts']);
  for (const [name, content] of files) {
    assert.equal(readFileSync(join(GENERATED_DIR, name), 'utf8'), content, `src/fhir/generated/${name} is stale`);
  }
});

test('resource types: the 146 concrete R4 types, sorted, no abstract or R4B-only types', () => {
  assert.equal(R4_RESOURCE_TYPES.length, 146);
  assert.deepEqual([...R4_RESOURCE_TYPES], [...R4_RESOURCE_TYPES].sort());
  for (const t of ['Patient', 'Observation', 'Bundle', 'Parameters', 'Binary', 'MedicationRequest']) {
    assert.ok((R4_RESOURCE_TYPES as readonly string[]).includes(t), t);
  }
  for (const t of ['Resource', 'DomainResource', 'SubscriptionStatus']) {
    assert.ok(!(R4_RESOURCE_TYPES as readonly string[]).includes(t), t);
  }
});

test('patient compartment and search tables carry HL7 data', () => {
  assert.deepEqual(PATIENT_COMPARTMENT['Observation'], ['performer', 'subject']);
  assert.deepEqual(PATIENT_COMPARTMENT['Patient'], ['link']);
  assert.equal(PATIENT_COMPARTMENT['Organization'], undefined);
  assert.deepEqual(SEARCH_PARAMETERS['Observation']?.['subject'], {
    type: 'reference',
    targets: ['Device', 'Group', 'Location', 'Patient'],
  });
  assert.deepEqual(SEARCH_PARAMETERS['Observation']?.['date'], { type: 'date' });
  assert.deepEqual(SEARCH_PARAMETERS['Observation']?.['patient'], { type: 'reference', targets: ['Patient'] });
});
