import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isResourceType } from '../../../src/fhir/resource-types.ts';
import { parseSearch, parseSearchQuery, splitEscaped, unescapeValue } from '../../../src/fhir/search.ts';
import type { Include, ParsedSearch } from '../../../src/fhir/search.ts';

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

// parseValues splits and reads OR-values in one scan, and parseInclude reads includes with
// indexOf (both to allocate less per request): held here to the split-based readings.

/** The reference reading of one value: splitEscaped, then the prefix rule, then unescapeValue. */
function valuesReference(value: string, prefixed: boolean): Array<{ raw: string; prefix: string | undefined; value: string }> | undefined {
  const parts = splitEscaped(value);
  if (parts === undefined) return undefined;
  return parts.map((raw) => {
    const p = raw.slice(0, 2);
    const hasPrefix = prefixed && ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'].includes(p) && /^[0-9+\-.]/.test(raw.slice(2));
    return { raw, prefix: hasPrefix ? p : undefined, value: unescapeValue(hasPrefix ? raw.slice(2) : raw) };
  });
}

const VALUE_PARTS = ['a', '1', ',', '\\,', '\\$', '\\|', '\\\\', '\\', '\\x', 'ge', 'eq', 'sa', 'ap', '2020', '-', '+', '.', 'x|y', ''];

test('property: OR-values agree with splitEscaped + the prefix rule + unescapeValue', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...VALUE_PARTS), { maxLength: 10 }), fc.constantFrom('code', 'date', 'value-quantity', 'subject.birthdate'), (parts, name) => {
      const value = parts.join('');
      const r = parseSearch([[name, value]], 'Observation');
      const expected = valuesReference(value, name === 'date' || name === 'value-quantity');
      if (expected === undefined) {
        assert.equal(r.ok, false);
      } else {
        assert.ok(r.ok, value);
        assert.deepEqual(r.search.params[0]?.values, expected);
      }
    }),
    { numRuns: 20000 },
  );
});

test('OR-values: at most 257 alternatives, with or without escapes', () => {
  for (const one of ['a', 'a\\,b']) {
    assert.equal(parseSearch([['code', Array(257).fill(one).join(',')]], 'Observation').ok, true);
    assert.equal(parseSearch([['code', Array(258).fill(one).join(',')]], 'Observation').ok, false);
  }
});

/** The reference reading of an include: split on ':' with destructuring. */
function includeReference(name: string, value: string): Include | undefined {
  const [base, modifier, ...rest] = name.split(':');
  if (rest.length > 0 || base === undefined) return undefined;
  if (modifier !== undefined && modifier !== 'iterate') return undefined;
  const iterate = modifier === 'iterate';
  if (value === '*') return { wildcard: true, sourceType: undefined, param: undefined, targetType: undefined, iterate };
  const parts = value.split(':');
  const [sourceType, param, targetType] = parts;
  if (parts.length < 2 || parts.length > 3 || sourceType === undefined || param === undefined) return undefined;
  if (!isResourceType(sourceType) || (param !== '*' && !/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/.test(param))) return undefined;
  if (targetType !== undefined && !isResourceType(targetType)) return undefined;
  return { wildcard: false, sourceType, param, targetType, iterate };
}

test('property: includes agree with the split-based reading', () => {
  const names = fc.constantFrom('_include', '_revinclude', '_include:iterate', '_revinclude:iterate', '_include:iteratex', '_include:', '_include:iterate:iterate', '_include:recurse');
  const value = fc.array(fc.constantFrom('Observation', 'Patient', 'patient', 'subject', '*', ':', '', 'x-y', 'Foo'), { maxLength: 6 }).map((p) => p.join(''));
  fc.assert(
    fc.property(names, value, (name, v) => {
      const r = parseSearch([[name, v]], 'Observation');
      const expected = includeReference(name, v);
      if (expected === undefined) {
        assert.equal(r.ok, false, `${name}=${v}`);
      } else {
        assert.ok(r.ok, `${name}=${v}`);
        const list = name.startsWith('_include') ? r.search.result.include : r.search.result.revinclude;
        assert.deepEqual(list, [expected]);
      }
    }),
    { numRuns: 10000 },
  );
});

test('a search with nothing in it shares the empty result; anything in it gets its own', () => {
  const empty = parse('');
  assert.deepEqual(empty, { params: [], result: { count: undefined, include: [], revinclude: [], elements: undefined, summary: undefined, sort: undefined, total: undefined, contained: undefined, containedType: undefined } });
  const counted = parse('_count=5');
  assert.deepEqual(counted.params, []);
  assert.equal(counted.result.count, 5);
  assert.equal(parse('').result.count, undefined); // the shared empty result was not touched
});
