import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { classifyBundle } from '../../../src/fhir/bundle.ts';
import type { BundleEntryResult } from '../../../src/fhir/bundle.ts';
import { classify } from '../../../src/fhir/classify.ts';
import type { ClassifyOptions } from '../../../src/fhir/request.ts';
import { parseStrictJson } from '../../../src/fhir/strict-json.ts';

const OPTS: ClassifyOptions = { basePath: '/fhir', baseUrl: 'https://ehr.example.org/fhir' };
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const bundle = (type: string, entry: unknown[]): Uint8Array => enc(JSON.stringify({ resourceType: 'Bundle', type, entry }));

function entries(body: Uint8Array, opts: ClassifyOptions = OPTS): readonly BundleEntryResult[] {
  const r = classifyBundle(body, opts);
  assert.ok(r.ok, JSON.stringify(r));
  return r.entries;
}

test('smuggling: an entry for another patient is classified, not dropped', () => {
  const body = bundle('transaction', [
    { fullUrl: 'urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0', resource: { resourceType: 'Observation' }, request: { method: 'POST', url: 'Observation' } },
    { request: { method: 'GET', url: 'Observation?patient=other-patient' } },
    { request: { method: 'DELETE', url: 'Patient/other-patient' } },
    { request: { method: 'GET', url: 'https://ehr.example.org/fhir/Patient/other-patient/_history/3' } },
  ]);
  const r = classify({ method: 'POST', path: '/fhir', rawQuery: '', contentType: 'application/fhir+json', body }, OPTS);
  assert.ok(r.ok);
  assert.equal(r.request.interaction, 'transaction');
  const e = r.request.entries;
  assert.equal(e.length, 4);
  assert.equal(e[0]?.fullUrl, 'urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0');
  assert.equal(e[0]?.request.interaction, 'create');
  assert.equal(e[1]?.request.interaction, 'search-type');
  assert.equal(e[1]?.request.search.params[0]?.values[0]?.value, 'other-patient');
  assert.deepEqual([e[2]?.request.interaction, e[2]?.request.id], ['delete', 'other-patient']);
  assert.deepEqual([e[3]?.request.interaction, e[3]?.request.id, e[3]?.request.versionId], ['vread', 'other-patient', '3']);
});

test('conditional create in a transaction carries its ifNoneExist criteria', () => {
  const [e] = entries(bundle('transaction', [{ request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=http://mrn|1' } }]));
  assert.ok(e?.ok);
  assert.equal(e.request.conditional, true);
  assert.equal(e.request.search.params[0]?.name, 'identifier');
});

test('unclassifiable entries are reported per entry, and deny the whole request in classify()', () => {
  const body = bundle('batch', [
    { request: { method: 'GET', url: 'Patient/1' } },
    { request: { method: 'GET', url: 'https://other.example.org/fhir/Patient/1' } },
    {},
    { request: { method: 'GET' } },
    { request: { method: 'FETCH', url: 'Patient/1' } },
    { request: { method: 'GET', url: '/fhir/Patient/1' } },
    { request: { method: 'GET', url: 'Patient/..' } },
    { request: { method: 'POST', url: '' } },
    { fullUrl: 'https://other.example.org/fhir/Patient/1', request: { method: 'PUT', url: 'Patient/1' } },
    { fullUrl: 'urn:uuid:NOT-A-UUID', request: { method: 'POST', url: 'Patient' } },
    { request: { method: 'GET', url: 'Observation?code=%ZZ' } },
    { request: { method: 'GET', url: 'Patient/1', ifNoneExist: 'x=1' } },
    'not an object',
  ]);
  const results = entries(body);
  assert.equal(results.length, 13);
  assert.deepEqual(results.map((r) => r.ok), [true, ...Array<boolean>(12).fill(false)]);
  assert.deepEqual(results.map((r) => r.index), [...Array(13).keys()]);
  const r = classify({ method: 'POST', path: '/fhir', rawQuery: '', contentType: 'application/fhir+json', body }, OPTS);
  assert.deepEqual(r, { ok: false, reason: 'fhir_bundle_invalid' });
});

test('absolute same-base entry URLs need a configured base URL', () => {
  const body = bundle('batch', [{ request: { method: 'GET', url: 'https://ehr.example.org/fhir/Patient/1' } }]);
  assert.equal(entries(body)[0]?.ok, true);
  assert.equal(entries(body, { basePath: '/fhir' })[0]?.ok, false);
});

test('bundle-level failures', () => {
  const fail = (body: Uint8Array, opts: ClassifyOptions = OPTS) => {
    const r = classifyBundle(body, opts);
    assert.ok(!r.ok);
    return r.reason;
  };
  assert.equal(fail(enc('{"resourceType":"Bundle","type":"batch","type":"transaction"}')), 'fhir_bundle_invalid');
  assert.equal(
    fail(enc('{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/1","url":"Patient/2"}}]}')),
    'fhir_bundle_invalid',
  );
  assert.equal(fail(enc('{"resourceType":"Bundle","type":"collection"}')), 'fhir_bundle_invalid');
  assert.equal(fail(enc('{"resourceType":"Patient","type":"batch"}')), 'fhir_bundle_invalid');
  assert.equal(fail(enc('{"resourceType":"Bundle","type":"batch","entry":{}}')), 'fhir_bundle_invalid');
  assert.equal(fail(enc('[]')), 'fhir_bundle_invalid');
  assert.equal(fail(new Uint8Array([0x7b, 0xff, 0x7d])), 'fhir_bundle_invalid');
  assert.equal(fail(enc('{"resourceType":"Bundle","type":"batch"')), 'fhir_bundle_invalid');
  const deep = '{"resourceType":"Bundle","type":"batch","x":' + '['.repeat(100) + ']'.repeat(100) + '}';
  assert.equal(fail(enc(deep)), 'fhir_bundle_invalid');
  const many = bundle('batch', Array.from({ length: 101 }, () => ({ request: { method: 'GET', url: 'Patient/1' } })));
  assert.equal(fail(many), 'request_body_too_large');
  assert.equal(fail(bundle('batch', []), { ...OPTS, bundleLimits: { maxBytes: 10 } }), 'request_body_too_large');
  assert.equal(classifyBundle(bundle('batch', []), OPTS).ok, true);
});

test('strict JSON: duplicates, depth, escapes and numbers', () => {
  const L = { maxBytes: 1 << 20, maxDepth: 4 };
  assert.deepEqual(parseStrictJson(enc(' {"a":[1,-2.5e3,true,false,null,"x\\u00e9\\n"]} '), L), {
    ok: true,
    value: Object.assign(Object.create(null) as object, { a: [1, -2500, true, false, null, 'x\u00e9\n'] }),
  });
  assert.deepEqual(parseStrictJson(enc('{"a":1,"a":2}'), L), { ok: false, error: 'duplicate_key' });
  assert.deepEqual(parseStrictJson(enc('{"a":1,"\\u0061":2}'), L), { ok: false, error: 'duplicate_key' });
  assert.deepEqual(parseStrictJson(enc('[[[[[1]]]]]'), L), { ok: false, error: 'too_deep' });
  assert.equal(parseStrictJson(enc('[[[[1]]]]'), L).ok, true);
  for (const bad of ['{"a":01}', '{"a":1,}', "{'a':1}", '{"a":"\u0001"}', '{"a":"\\x"}', '[1 2]', '', 'nul', '{"a":1}x', '{"__proto__":1,"__proto__":2}']) {
    assert.equal(parseStrictJson(enc(bad), L).ok, false, bad);
  }
  const proto = parseStrictJson(enc('{"__proto__":{"polluted":true}}'), L);
  assert.ok(proto.ok);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});

test('property: strict JSON agrees with JSON.parse on valid documents and never throws', () => {
  const L = { maxBytes: 1 << 20, maxDepth: 64 };
  fc.assert(
    fc.property(fc.json({ maxDepth: 6 }), (text) => {
      const r = parseStrictJson(enc(text), L);
      assert.ok(r.ok);
      assert.equal(JSON.stringify(r.value), JSON.stringify(JSON.parse(text)));
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      parseStrictJson(bytes, L);
    }),
    { numRuns: 1000 },
  );
});

test('property: classifyBundle never throws on arbitrary entries', () => {
  const entry = fc.record({
    fullUrl: fc.option(fc.oneof(fc.string(), fc.constant('urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0')), { nil: undefined }),
    request: fc.option(
      fc.record({
        method: fc.oneof(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'), fc.string()),
        url: fc.oneof(fc.constantFrom('Patient/1', 'Observation?patient=1', '', '$export', 'Patient/1/$everything'), fc.string()),
      }),
      { nil: undefined },
    ),
  });
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 5 }), fc.constantFrom('batch', 'transaction'), (es, type) => {
      const r = classifyBundle(bundle(type, es), OPTS);
      assert.ok(r.ok);
      assert.equal(r.entries.length, es.length);
    }),
    { numRuns: 500 },
  );
});
