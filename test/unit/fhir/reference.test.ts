import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { normalizeReference, referencedPatientId, relativeToBase } from '../../../src/fhir/reference.ts';
import type { NormalizedReference, ReferenceContext } from '../../../src/fhir/reference.ts';
import { isFhirId, isResourceType } from '../../../src/fhir/resource-types.ts';

const BASE = 'https://ehr.example.org/fhir';
const SUBJECT: ReferenceContext = { targets: ['Device', 'Group', 'Location', 'Patient'], baseUrl: BASE };
const PATIENT_ONLY: ReferenceContext = { targets: ['Patient'], baseUrl: BASE };

const ROWS: Array<[value: string, ctx: ReferenceContext, expected: string | undefined]> = [
  ['Patient/123', SUBJECT, '123'],
  ['Patient/123/_history/2', SUBJECT, '123'],
  ['123', PATIENT_ONLY, '123'],
  ['123', SUBJECT, undefined], // bare id, several possible targets
  ['123', { ...SUBJECT, typeModifier: 'Patient' }, '123'],
  ['Group/123', { ...SUBJECT, typeModifier: 'Patient' }, undefined],
  [`${BASE}/Patient/123`, SUBJECT, '123'],
  ['HTTPS://EHR.example.org/fhir/Patient/123', SUBJECT, '123'],
  [`${BASE}/Patient/123/_history/7`, SUBJECT, '123'],
  [`${BASE}/Patient/123`, { targets: ['Patient'] }, undefined], // no base configured
  ['https://other.example.org/fhir/Patient/123', SUBJECT, undefined],
  ['http://ehr.example.org/fhir/Patient/123', SUBJECT, undefined],
  ['https://ehr.example.org/fhir2/Patient/123', SUBJECT, undefined],
  ['https://ehr.example.org/fhir/../x/Patient/123', SUBJECT, undefined],
  ['https://ehr.example.org:8443/fhir/Patient/123', SUBJECT, undefined],
  [`${BASE}/Patient/123?x=1`, SUBJECT, undefined],
  ['Patient/123/_history', SUBJECT, undefined],
  ['Patient/123/_history2/7', SUBJECT, undefined],
  ['Patient/123/_history/7/8', SUBJECT, undefined],
  ['Patient/123/extra', SUBJECT, undefined],
  ['patient/123', SUBJECT, undefined],
  ['Patient/12%33', SUBJECT, undefined],
  ['Patient/', SUBJECT, undefined],
  ['Patient/123', { targets: ['Practitioner'] }, undefined],
  ['Practitioner/9', SUBJECT, undefined],
  ['urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0', SUBJECT, undefined],
  ['http://mrn|123', SUBJECT, undefined],
  ['', SUBJECT, undefined],
  [`Patient/${'a'.repeat(65)}`, SUBJECT, undefined],
];

test('reference values normalise to this server\'s patient id or to unknown', async (t) => {
  for (const [value, ctx, expected] of ROWS) {
    await t.test(`${value} ${JSON.stringify(ctx.typeModifier ?? ctx.targets)}`, () => {
      assert.equal(referencedPatientId(value, ctx), expected);
    });
  }
});

test('normalizeReference returns type, id and version', () => {
  assert.deepEqual(normalizeReference('Observation/o1/_history/3'), { kind: 'resource', type: 'Observation', id: 'o1', versionId: '3' });
  assert.deepEqual(normalizeReference('Observation/o1'), { kind: 'resource', type: 'Observation', id: 'o1', versionId: undefined });
  assert.deepEqual(normalizeReference('o1'), { kind: 'unknown' });
  // a patient whose id is literally "unknown" is still a patient
  assert.equal(referencedPatientId('Patient/unknown'), 'unknown');
});

test('relativeToBase', () => {
  assert.equal(relativeToBase('Patient/1', BASE), 'Patient/1');
  assert.equal(relativeToBase(`${BASE}/Patient/1`, BASE), 'Patient/1');
  assert.equal(relativeToBase(`${BASE}/Patient/1`, `${BASE}/`), 'Patient/1');
  assert.equal(relativeToBase('https://elsewhere/fhir/Patient/1', BASE), undefined);
  assert.equal(relativeToBase('urn:uuid:x', BASE), undefined);
  assert.equal(relativeToBase(`${BASE}/Patient/1`, undefined), undefined);
});

// normalizeReference finds the segments with indexOf (no split per value): held here to the
// split-based reading it replaced.
function referenceBySplit(value: string, ctx: ReferenceContext = {}): NormalizedReference {
  if (value.length > 2048 || value.includes('%')) return { kind: 'unknown' };
  const rel = relativeToBase(value, ctx.baseUrl);
  if (rel === undefined) return { kind: 'unknown' };
  const typeAllowed = (type: string): boolean =>
    (ctx.typeModifier === undefined || ctx.typeModifier === type) && ((ctx.targets ?? []).length === 0 || (ctx.targets ?? []).includes(type));
  const segs = rel.split('/');
  if (segs.length === 1) {
    const id = segs[0] ?? '';
    if (!isFhirId(id)) return { kind: 'unknown' };
    const implied = ctx.typeModifier ?? (ctx.targets !== undefined && ctx.targets.length === 1 ? ctx.targets[0] : undefined);
    if (implied === undefined || !isResourceType(implied)) return { kind: 'unknown' };
    return { kind: 'resource', type: implied, id, versionId: undefined };
  }
  const [type = '', id = '', hist, vid] = segs;
  if (segs.length !== 2 && !(segs.length === 4 && hist === '_history')) return { kind: 'unknown' };
  if (!isResourceType(type) || !isFhirId(id) || !typeAllowed(type)) return { kind: 'unknown' };
  if (vid !== undefined && !isFhirId(vid)) return { kind: 'unknown' };
  return { kind: 'resource', type, id, versionId: vid };
}

test('property: normalizeReference agrees with the split-based reading', () => {
  const segment = fc.constantFrom('Patient', 'Group', 'patient', '123', 'a.b', '_history', '_history2', '_histor', '2', '', '%2F', 'x'.repeat(65));
  const prefix = fc.constantFrom('', `${BASE}/`, 'HTTPS://EHR.example.org/fhir/', 'https://ehr.example.org/', 'https://other.example.org/fhir/', 'urn:uuid:', '/');
  const reference = fc.tuple(prefix, fc.array(segment, { minLength: 1, maxLength: 5 })).map(([p, segs]) => p + segs.join('/'));
  const ctx = fc.record(
    {
      targets: fc.constantFrom<readonly string[]>([], ['Patient'], ['Patient', 'Group'], ['Group']),
      typeModifier: fc.constantFrom('Patient', 'Group', 'Foo'),
      baseUrl: fc.constantFrom(BASE, `${BASE}/`, 'https://ehr.example.org', 'not a url'),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(reference, ctx, (value, c) => {
      assert.deepEqual(normalizeReference(value, c), referenceBySplit(value, c));
      const expected = referenceBySplit(value, c);
      assert.equal(referencedPatientId(value, c), expected.kind === 'resource' && expected.type === 'Patient' ? expected.id : undefined);
    }),
    { numRuns: 20000 },
  );
});
