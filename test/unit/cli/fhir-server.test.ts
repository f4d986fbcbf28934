import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FhirServer } from '../../../src/cli/dev/fhir-server.ts';

let server: FhirServer;

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { headers });
  assert.match(res.headers.get('content-type') ?? '', /^application\/fhir\+json/);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

before(async () => {
  server = await FhirServer.create({ maxBodyBytes: 2048 });
});
after(async () => {
  await server.close();
});

describe('sample FHIR server', () => {
  it('serves a CapabilityStatement at /fhir/metadata', async () => {
    const { status, body } = await get('/fhir/metadata');
    assert.equal(status, 200);
    assert.equal(body['resourceType'], 'CapabilityStatement');
    assert.equal(body['fhirVersion'], '4.0.1');
  });

  it('reads resources by id and answers 404 with an OperationOutcome for unknown ones', async () => {
    const p = await get('/fhir/Patient/example-patient-2');
    assert.equal(p.status, 200);
    assert.equal(p.body['id'], 'example-patient-2');
    const missing = await get('/fhir/Patient/nobody');
    assert.equal(missing.status, 404);
    assert.equal(missing.body['resourceType'], 'OperationOutcome');
  });

  it('searches observations by patient or subject (plain or Patient/ references) and honours _count', async () => {
    for (const q of ['patient=example-patient-1', 'subject=Patient/example-patient-1', 'patient=Patient/example-patient-1']) {
      const { body } = await get(`/fhir/Observation?${q}`);
      assert.equal(body['resourceType'], 'Bundle');
      assert.equal(body['type'], 'searchset');
      assert.equal(body['total'], 3, q);
    }
    const limited = await get('/fhir/Observation?patient=example-patient-1&_count=1');
    assert.equal(limited.body['total'], 3);
    assert.equal((limited.body['entry'] as unknown[]).length, 1);
    const other = await get('/fhir/Observation?patient=example-patient-3');
    assert.equal(other.body['total'], 1);
    const all = await get('/fhir/Observation');
    assert.equal(all.body['total'], 6);
    const patients = await get('/fhir/Patient?_id=example-patient-1,example-patient-3');
    assert.equal(patients.body['total'], 2);
  });

  it('records what it received: method, raw path, query and headers', async () => {
    await get('/fhir/Observation?patient=example-patient-2&_count=5', { cookie: 'a=b', 'x-test': '1' });
    const seen = server.lastRequest;
    assert.ok(seen);
    assert.equal(seen.method, 'GET');
    assert.equal(seen.path, '/fhir/Observation');
    assert.equal(seen.query, 'patient=example-patient-2&_count=5');
    assert.equal(seen.headers['cookie'], 'a=b');
    assert.equal(seen.headers['x-test'], '1');
    assert.ok(server.requests.length >= 1);
    assert.ok(server.requestCount >= server.requests.length);
  });

  it('creates resources and rejects mismatched, malformed or oversized bodies', async () => {
    const post = (path: string, body: string) =>
      fetch(`http://127.0.0.1:${server.port}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/fhir+json' } });
    const created = await post('/fhir/Observation', JSON.stringify({ resourceType: 'Observation', status: 'final' }));
    assert.equal(created.status, 201);
    assert.match(created.headers.get('location') ?? '', /^\/fhir\/Observation\/[0-9a-f-]+\/_history\/1$/);
    assert.equal((await post('/fhir/Observation', JSON.stringify({ resourceType: 'Patient' }))).status, 400);
    assert.equal((await post('/fhir/Observation', '{not json')).status, 400);
    assert.equal((await post('/fhir/Observation', 'x'.repeat(4096))).status, 413);
  });

  it('answers non-FHIR paths and unsupported interactions with an OperationOutcome', async () => {
    assert.equal((await get('/admin')).status, 404);
    assert.equal((await get('/fhir/observation')).status, 400);
    assert.equal((await get('/fhir/Observation/obs-hr-1/_history/1')).status, 400);
    const del = await fetch(`http://127.0.0.1:${server.port}/fhir/Observation/obs-hr-1`, { method: 'DELETE' });
    assert.equal(del.status, 405);
  });
});
