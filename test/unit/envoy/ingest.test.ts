import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ingest } from '../../../src/envoy/ingest.ts';
import type { CheckRequest } from '../../../src/envoy/check-types.ts';
import { checkRequest } from '../../support/fixtures.ts';

test('splits the query out of the path, as Envoy sends it', () => {
  const r = ingest(checkRequest({ path: '/fhir/Observation?patient=123&_count=10' }));
  assert.ok(r.ok);
  assert.equal(r.request.path, '/fhir/Observation');
  assert.equal(r.request.rawQuery, 'patient=123&_count=10');
});

test('raw header lines reveal a repeated Authorization header', () => {
  const r = ingest(
    checkRequest({
      lines: [
        ['authorization', 'Bearer a'],
        ['Authorization', 'Bearer b'],
        ['accept', 'application/fhir+json'],
      ],
    }),
  );
  assert.ok(r.ok);
  assert.equal(r.request.headers.get('authorization'), 'Bearer a');
  assert.ok(r.request.duplicateHeaders.has('authorization'));
  assert.ok(!r.request.duplicateHeaders.has('accept'));
});

test('header map mode keeps values and lower-cases names', () => {
  const r = ingest(checkRequest({ headers: { Accept: 'application/fhir+json', 'x-request-id': 'abc-1' }, id: '' }));
  assert.ok(r.ok);
  assert.equal(r.request.headers.get('accept'), 'application/fhir+json');
  assert.equal(r.request.requestId, 'abc-1');
});

test('partial body flag and declared size are carried', () => {
  const r = ingest(
    checkRequest({ method: 'POST', headers: { 'x-envoy-auth-partial-body': 'true', 'content-length': '999999' }, body: '{}' }),
  );
  assert.ok(r.ok);
  assert.equal(r.request.bodyPartial, true);
  assert.equal(r.request.declaredSize, 999999);
  assert.deepEqual([...(r.request.body ?? [])], [...Buffer.from('{}')]);
});

test('peer certificate is URL-decoded PEM; garbage is dropped', () => {
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const ok = ingest(checkRequest({ certificate: encodeURIComponent(pem) }));
  assert.ok(ok.ok);
  assert.equal(ok.request.peerCertificatePem, pem);
  const bad = ingest(checkRequest({ certificate: '%E0%A4%A' }));
  assert.ok(bad.ok);
  assert.equal(bad.request.peerCertificatePem, undefined);
});

test('source address is formatted ip:port', () => {
  const r = ingest(checkRequest());
  assert.ok(r.ok);
  assert.equal(r.request.sourceAddress, '10.1.2.3:40000');
});

for (const [name, mutate] of [
  ['missing attributes', (c: CheckRequest) => delete c.attributes],
  ['missing http', (c: CheckRequest) => delete c.attributes!.request!.http],
  ['lower-case method', (c: CheckRequest) => (c.attributes!.request!.http!.method = 'get')],
  ['method with spaces', (c: CheckRequest) => (c.attributes!.request!.http!.method = 'GET /')],
] as const) {
  test(`malformed request is denied: ${name}`, () => {
    const c = checkRequest();
    mutate(c);
    const r = ingest(c);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.reason, 'request_malformed');
  });
}

for (const path of ['', 'fhir/Patient', '/fhir/Patient#frag', `/${'a'.repeat(9000)}`]) {
  test(`invalid path is denied: ${JSON.stringify(path.slice(0, 30))}`, () => {
    const r = ingest(checkRequest({ path }));
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.reason, 'request_path_invalid');
  });
}

test('too many header lines are refused', () => {
  const lines: Array<[string, string]> = Array.from({ length: 300 }, (_, i) => [`x-h${i}`, 'v']);
  const r = ingest(checkRequest({ lines }));
  assert.equal(r.ok, false);
});

test('property: ingest never throws on arbitrary CheckRequest-shaped input', () => {
  fc.assert(
    fc.property(fc.anything(), fc.string(), fc.string(), fc.dictionary(fc.string(), fc.anything()), (any, method, path, headers) => {
      ingest(any as CheckRequest);
      ingest({ attributes: { request: { http: { method, path, headers: headers as Record<string, string> } } } });
    }),
    { numRuns: 500 },
  );
});
