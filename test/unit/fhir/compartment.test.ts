import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isInPatientCompartment, patientCompartmentParams, patientCompartmentTypes } from '../../../src/fhir/compartment.ts';
import { isResourceType } from '../../../src/fhir/resource-types.ts';

test('compartment parameters come from HL7 CompartmentDefinition/patient', () => {
  assert.deepEqual(patientCompartmentParams('Observation'), ['performer', 'subject']);
  assert.deepEqual(patientCompartmentParams('AllergyIntolerance'), ['asserter', 'patient', 'recorder']);
  assert.deepEqual(patientCompartmentParams('Patient'), ['link']);
  assert.equal(patientCompartmentParams('Organization'), undefined);
  assert.equal(patientCompartmentParams('Practitioner'), undefined);
  assert.equal(patientCompartmentParams('observation'), undefined);
  assert.equal(patientCompartmentParams('toString'), undefined);
  assert.equal(patientCompartmentParams('__proto__'), undefined);
});

test('membership', () => {
  assert.equal(isInPatientCompartment('Condition'), true);
  assert.equal(isInPatientCompartment('Patient'), true);
  assert.equal(isInPatientCompartment('Medication'), false);
  assert.equal(isInPatientCompartment('constructor'), false);
  const types = patientCompartmentTypes();
  assert.ok(types.length > 60);
  assert.ok(types.every((t) => isResourceType(t)));
});
