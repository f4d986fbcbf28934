import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseSearchQuery, splitEscaped } from '../../../src/fhir/search.ts';
import type { ParsedSearch } from '../../../src/fhir/search.ts';

function parse(query: string, type: string | undefined = 'Observation'): ParsedSearch {
  const r = parseSearchQuery(query, type);
  assert.ok(r.ok, `expected ${query} to parse`);
  return r.search;
}

function rejects(query: string, type: string | undefined = 'Observation'): void {
  const r = parseSearchQuery(query, type);
  assert.ok(!r.ok, `expected ${query} to be rejected`);
  assert.equal(r.reason, 'fhir_search_invalid');
}

test('plain parameters keep order; repeats stay separate (AND)', () => {
  const s = parse('patient=1&code=a&patient=2');
  assert.deepEqual(s.params.map((p) => [p.name, p.values.map((v) => v.value)]), [['patient', ['1']], ['code', ['a']], ['patient', ['2']]]);
  assert.deepEqual(s.params[0]?.def, { type: 'reference', targets: ['Patient'] });
});

test('modifiers: known modifiers and :Type accepted, unknown ones rejected', () => {
  assert.equal(parse('code:not=x').params[0]?.modifier, 'not');
  assert.equal(parse('subject:missing=true').params[0]?.modifier, 'missing');
  assert.equal(parse('subject:Patient=1').params[0]?.modifier, 'Patient');
  assert.equal(parse('code:of-type=a|b|c').params[0]?.modifier, 'of-type');
  assert.equal(parse('name:exact=Eve', 'Patient').params[0]?.modifier, 'exact');
  rejects('code:bogus=x');
  rejects('subject:patient=1');
  rejects('code:not:exact=x');
  rejects('subject:missing=maybe');
  rejects('code:Patient=1'); // a type modifier on a token parameter
});

test('forward chains', () => {
  const p = parse('subject:Patient.name=peter').params[0];
  assert.equal(p?.name, 'subject');
  assert.equal(p?.modifier, 'Patient');
  assert.deepEqual(p?.chain, [{ name: 'name', modifier: undefined }]);
  const deep = parse('patient.general-practitioner:Practitioner.name:exact=Bob', 'Encounter').params[0];
  assert.deepEqual(deep?.chain, [
    { name: 'general-practitioner', modifier: 'Practitioner' },
    { name: 'name', modifier: 'exact' },
  ]);
  // chained values get no prefix: the final parameter's type is not resolved
  assert.equal(parse('subject.birthdate=ge2000').params[0]?.values[0]?.prefix, undefined);
  rejects('subject:exact.name=x'); // only a type modifier may precede a chain hop
  rejects('code.name=x'); // token parameters cannot be chained
  rejects('subject..name=x');
  rejects('subject.=x');
});

test('_has reverse chains, nested', () => {
  const one = parse('_has:Observation:patient:code=1234-5', 'Patient').params[0];
  assert.equal(one?.name, '_has');
  assert.deepEqual(one?.has, { links: [{ resourceType: 'Observation', reference: 'patient' }], param: 'code', modifier: undefined });
  const two = parse('_has:Observation:patient:_has:AuditEvent:entity:agent=MyUserId', 'Patient').params[0];
  assert.deepEqual(two?.has?.links.map((l) => l.resourceType), ['Observation', 'AuditEvent']);
  assert.equal(two?.has?.param, 'agent');
  assert.equal(parse('_has:Observation:patient:code:not=x', 'Patient').params[0]?.has?.modifier, 'not');
  rejects('_has:observation:patient:code=1', 'Patient');
  rejects('_has:Observation:patient=1', 'Patient');
  rejects('_has:Observation=1', 'Patient');
  rejects('_has=1', 'Patient');
  rejects('_has:Observation:patient:code:bogus=1', 'Patient');
});

test('values: unescaped commas split OR lists, FHIR escapes are honoured', () => {
  const p = parse('code=a,b\\,c,d\\|e,f\\\\,g\\$h').params[0];
  assert.deepEqual(p?.values.map((v) => v.raw), ['a', 'b\\,c', 'd\\|e', 'f\\\\', 'g\\$h']);
  assert.deepEqual(p?.values.map((v) => v.value), ['a', 'b,c', 'd|e', 'f\\', 'g$h']);
  assert.deepEqual(parse('patient=1,2').params[0]?.values.map((v) => v.value), ['1', '2']);
  assert.deepEqual(parse('code=').params[0]?.values.map((v) => v.value), ['']);
  rejects('code=a\\b');
  rejects('code=trailing\\');
  assert.deepEqual(splitEscaped('x,,y'), ['x', '', 'y']);
});

test('prefixes on number/date/quantity parameters only', () => {
  const s = parse('date=ge2020-01-01&date=lt2021&value-quantity=ap5.4|http://unitsofmeasure.org|mg&code=gt1');
  assert.deepEqual(s.params.map((p) => [p.values[0]?.prefix, p.values[0]?.value]), [
    ['ge', '2020-01-01'],
    ['lt', '2021'],
    ['ap', '5.4|http://unitsofmeasure.org|mg'],
    [undefined, 'gt1'],
  ]);
  assert.deepEqual(parse('date=eq2020,sa2021').params[0]?.values.map((v) => v.prefix), ['eq', 'sa']);
  assert.equal(parse('date=2020').params[0]?.values[0]?.prefix, undefined);
  assert.equal(parse('probability=le0.5', 'RiskAssessment').params[0]?.values[0]?.prefix, 'le');
});

test('percent-decoding is strict UTF-8', () => {
  assert.equal(parse('code=%E2%9C%93').params[0]?.values[0]?.value, '\u2713');
  assert.equal(parse('date=ge2020-01-01T00:00:00%2B01:00').params[0]?.values[0]?.value, '2020-01-01T00:00:00+01:00');
  assert.equal(parse('name=a+b', 'Patient').params[0]?.values[0]?.value, 'a b');
  rejects('code=%C3%28'); // invalid continuation byte
  rejects('code=%ED%A0%80'); // UTF-16 surrogate encoded in UTF-8
  rejects('code=%C0%AF'); // overlong encoding of '/'
  rejects('code=%G1');
  rejects('code=%4');
  rejects('code=%00');
  rejects('code=a%0Ab');
  rejects('code=caf\u00e9'); // raw non-ASCII
  rejects('co%64e%3Ax=1'); // decodes to an unknown modifier
});

test('unknown parameter names are kept with no definition', () => {
  const p = parse('patinet=1').params[0];
  assert.equal(p?.name, 'patinet');
  assert.equal(p?.def, undefined);
  assert.equal(parse('_id=1', undefined).params[0]?.def?.type, 'token');
  assert.equal(parse('_text=x', 'Bundle').params[0]?.def, undefined);
  assert.equal(parse('_text=x', 'Observation').params[0]?.def?.type, 'string');
});

test('result parameters are recognised and parsed', () => {
  const s = parse(
    '_count=50&_include=Observation:subject:Patient&_include:iterate=Patient:general-practitioner&_revinclude=Provenance:target' +
      '&_elements=id,code,subject&_summary=data&_sort=-date,code&_total=accurate&_contained=both&_containedType=contained',
  );
  assert.deepEqual(s.params, []);
  assert.equal(s.result.count, 50);
  assert.deepEqual(s.result.include, [
    { wildcard: false, sourceType: 'Observation', param: 'subject', targetType: 'Patient', iterate: false },
    { wildcard: false, sourceType: 'Patient', param: 'general-practitioner', targetType: undefined, iterate: true },
  ]);
  assert.deepEqual(s.result.revinclude, [{ wildcard: false, sourceType: 'Provenance', param: 'target', targetType: undefined, iterate: false }]);
  assert.deepEqual(s.result.elements, ['id', 'code', 'subject']);
  assert.equal(s.result.summary, 'data');
  assert.deepEqual(s.result.sort, [{ name: 'date', descending: true }, { name: 'code', descending: false }]);
  assert.equal(s.result.total, 'accurate');
  assert.equal(s.result.contained, 'both');
  assert.equal(s.result.containedType, 'contained');
  assert.equal(parse('_include=*').result.include[0]?.wildcard, true);
  assert.equal(parse('_include=Observation:*').result.include[0]?.param, '*');
});

test('malformed result parameters are rejected', () => {
  for (const q of [
    '_count=-1', '_count=ten', '_count=1&_count=2', '_count:x=1', '_summary=maybe', '_total=all', '_contained=yes',
    '_include=observation:subject', '_include=Observation', '_include=Observation:subject:patient', '_include:recurse=Observation:subject',
    '_include=Observation:subject:Patient:extra', '_include=Observation:subject,Observation:performer', '_elements=a b', '_elements=',
    '_sort=', '_sort=-', '_summary=true&_summary=false', '_format=json', '_pretty=true',
  ]) {
    rejects(q);
  }
});

test('property: search parsing never throws', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), fc.constantFrom('Observation', 'Patient', undefined, 'Nope'), (q, t) => {
      const r = parseSearchQuery(q, t);
      assert.ok(r.ok || r.reason === 'fhir_search_invalid');
    }),
    { numRuns: 3000 },
  );
});
