import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Principal } from '../../../src/core/principal.ts';
import { launchContext, parseFhirUser } from '../../../src/smart/launch.ts';
import { principal } from '../../support/fixtures.ts';

const OPTS = { baseUrl: 'https://ehr.example.org/fhir' };

test('patient, encounter, fhirContext and fhirUser are extracted', () => {
  const r = launchContext(
    principal({
      patient: 'p-1',
      encounter: 'e.2',
      fhirUser: 'Practitioner/dr1',
      fhirContext: [
        'DiagnosticReport/dr9',
        { reference: 'ImagingStudy/is1', role: 'https://example.org/role' },
        { reference: 'https://ehr.example.org/fhir/Encounter/e3' },
        { canonical: 'http://example.org/Questionnaire/q|1' },
      ],
    }),
    OPTS,
  );
  assert.deepEqual(r, {
    ok: true,
    context: {
      patient: 'p-1',
      encounter: 'e.2',
      fhirUser: { type: 'Practitioner', id: 'dr1', base: undefined },
      fhirContext: [
        { type: 'DiagnosticReport', id: 'dr9', role: undefined },
        { type: 'ImagingStudy', id: 'is1', role: 'https://example.org/role' },
        { type: 'Encounter', id: 'e3', role: undefined },
      ],
    },
  });
  assert.deepEqual(launchContext(principal({})), { ok: true, context: { patient: undefined, encounter: undefined, fhirContext: [], fhirUser: undefined } });
});

test('malformed launch values deny instead of being ignored', () => {
  const bad: Array<Partial<Principal>> = [
    { patient: 'Patient/1' },
    { patient: '' },
    { patient: 'a'.repeat(65) },
    { patient: '1 OR 1=1' },
    { encounter: 'x/y' },
    { fhirUser: 'Organization/1' },
    { fhirUser: 'Practitioner' },
    { fhirUser: 'Practitioner/1/_history/2' },
    { fhirContext: ['Patient'] },
    { fhirContext: [{ reference: 5 }] },
    { fhirContext: [{ reference: 'Patient/1', role: 7 }] },
    { fhirContext: ['https://other.example.org/fhir/Patient/2'] },
    { fhirContext: ['Patient/1/_history/1'] },
    { fhirContext: [42] },
    { fhirContext: Array.from({ length: 33 }, () => 'Patient/1') },
  ];
  for (const extra of bad) {
    assert.deepEqual(launchContext(principal(extra), OPTS), { ok: false, reason: 'launch_context_invalid' }, JSON.stringify(extra));
  }
});

test('fhirUser: relative or absolute, only the five user types', () => {
  assert.deepEqual(parseFhirUser('Patient/123'), { type: 'Patient', id: '123', base: undefined });
  assert.deepEqual(parseFhirUser('https://idp.example.org/fhir/PractitionerRole/r1'), { type: 'PractitionerRole', id: 'r1', base: 'https://idp.example.org/fhir' });
  assert.deepEqual(parseFhirUser('https://idp.example.org/RelatedPerson/rp'), { type: 'RelatedPerson', id: 'rp', base: 'https://idp.example.org' });
  assert.equal(parseFhirUser('Person/x')?.type, 'Person');
  for (const bad of ['Device/1', 'practitioner/1', 'urn:uuid:1/Practitioner/1', 'https://idp/fhir/Practitioner/1?x', 'https://idp/../Practitioner/1', 'https://idp//Practitioner/1', 'Practitioner/%31', '', 'Practitioner/a/b']) {
    assert.equal(parseFhirUser(bad), undefined, bad);
  }
});
