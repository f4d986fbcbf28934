import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compartmentExpressionSupport, compartmentReferences } from '../../../../src/fhir/body/compartment-references.ts';
import { generateCompartmentExpressions, GENERATED_FILE } from '../../../../src/fhir/body/gen-compartment-expressions.ts';
import { patientCompartmentParams, patientCompartmentTypes } from '../../../../src/fhir/compartment.ts';

test('the committed expression table matches a fresh generation from the definitions package', () => {
  assert.equal(readFileSync(GENERATED_FILE, 'utf8'), generateCompartmentExpressions());
});

test('every Patient-compartment parameter of every R4 type evaluates (102 of 102)', () => {
  const { supported, unsupported } = compartmentExpressionSupport();
  assert.deepEqual(unsupported, []);
  let expected = 0;
  for (const t of patientCompartmentTypes()) expected += (patientCompartmentParams(t) ?? []).length;
  assert.equal(expected, 102);
  assert.equal(supported, expected);
  // And each one runs on a resource of its type without throwing.
  for (const t of patientCompartmentTypes()) {
    assert.deepEqual(compartmentReferences({ resourceType: t }, patientCompartmentParams(t) ?? []), []);
  }
});

test('returns the reference strings at the compartment elements', () => {
  const obs = {
    resourceType: 'Observation',
    subject: { reference: 'Patient/p1' },
    performer: [{ reference: 'Practitioner/d1' }, { display: 'no reference' }, { reference: 'Patient/p1' }],
  };
  assert.deepEqual(compartmentReferences(obs, ['subject']), ['Patient/p1']);
  assert.deepEqual(compartmentReferences(obs, ['performer', 'subject']), ['Practitioner/d1', 'Patient/p1', 'Patient/p1']);
  const condition = { resourceType: 'Condition', subject: { reference: 'Patient/p2' }, asserter: { reference: 'Patient/p3' } };
  assert.deepEqual(compartmentReferences(condition, ['patient']), ['Patient/p2']);
  assert.deepEqual(compartmentReferences(condition, ['asserter', 'patient']), ['Patient/p3', 'Patient/p2']);
  const condGroup = { resourceType: 'Condition', subject: { reference: 'Group/g1' } };
  assert.deepEqual(compartmentReferences(condGroup, ['patient']), []);
  const enrollment = { resourceType: 'EnrollmentRequest', candidate: { reference: 'Patient/p4' } };
  assert.deepEqual(compartmentReferences(enrollment, ['subject']), ['Patient/p4']);
  const patient = { resourceType: 'Patient', link: [{ other: { reference: 'Patient/p5' }, type: 'seealso' }] };
  assert.deepEqual(compartmentReferences(patient, ['link']), ['Patient/p5']);
});

test('caller mistakes throw TypeError', () => {
  assert.throws(() => compartmentReferences({ resourceType: 'Medication' }, ['subject']), TypeError);
  assert.throws(() => compartmentReferences({}, ['subject']), TypeError);
  assert.throws(() => compartmentReferences({ resourceType: 'Observation' }, ['code']), TypeError);
  assert.throws(() => compartmentReferences({ resourceType: 'Observation' }, ['__proto__']), TypeError);
});
