/**
 * The SMART engine through the real Envoy: patient-compartment narrowing by query rewrite (seen
 * by the upstream), other-patient denials, instance reads verified against the FHIR server, and a
 * batch smuggling another patient's entry.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { reasonOf, startHarness } from './harness.ts';
import type { Harness } from './harness.ts';
import { DEMO_PATIENT_ID } from '../../src/cli/dev/personas.ts';

let h: Harness;
before(async () => {
  h = await startHarness({ maxBodyBytes: 65536 });
});
after(async () => {
  await h?.close();
});

describe('patient compartment through Envoy', () => {
  it('narrows a search that names no patient: the upstream sees patient=Patient/<launch patient>', async () => {
    const res = await h.requestAs('patient-app', { path: '/fhir/Observation?code=8867-4' });
    assert.equal(res.status, 200, res.body);
    const seen = h.fhir.lastRequest;
    assert.equal(seen?.path, '/fhir/Observation');
    const q = new URLSearchParams(seen?.query ?? '');
    assert.equal(q.get('patient'), `Patient/${DEMO_PATIENT_ID}`);
    assert.equal(q.get('code'), '8867-4');
    const bundle = JSON.parse(res.body) as { total: number; entry: Array<{ resource: { subject: { reference: string } } }> };
    // The sample server ignores `code`; what matters is that only the launch patient's 3 of the 6
    // observations come back.
    assert.equal(bundle.total, 3);
    for (const e of bundle.entry) assert.equal(e.resource.subject.reference, `Patient/${DEMO_PATIENT_ID}`);
  });

  it('caps _count by rewrite', async () => {
    const res = await h.requestAs('clinician', { path: '/fhir/Observation?_count=5000' });
    assert.equal(res.status, 200, res.body);
    assert.equal(new URLSearchParams(h.fhir.lastRequest?.query ?? '').get('_count'), '100');
  });

  it('denies another patient by parameter, OR-list and Patient read — and the upstream never sees them', async () => {
    const before = h.fhir.requestCount;
    for (const path of ['/fhir/Observation?patient=example-patient-2', `/fhir/Observation?patient=${DEMO_PATIENT_ID},example-patient-2`, '/fhir/Patient/example-patient-2']) {
      const res = await h.requestAs('patient-app', { path });
      assert.equal(res.status, 403, `${path}: ${res.body}`);
      assert.equal(reasonOf(res.body), 'patient_compartment_violation', path);
    }
    assert.equal(h.fhir.requestCount, before);
  });

  it('verifies instance reads with the FHIR server: own → 200, another patient\'s → 404', async () => {
    const own = await h.requestAs('patient-app', { path: '/fhir/Observation/obs-hr-1' });
    assert.equal(own.status, 200, own.body);
    const lookups = h.fhir.requests.filter((r) => r.query.includes('_summary=count'));
    assert.ok(lookups.some((r) => /_id=obs-hr-1/.test(r.query) && /patient=Patient%2F/.test(r.query)), 'no verification lookup seen');
    const other = await h.requestAs('patient-app', { path: '/fhir/Observation/obs-hr-2' });
    assert.equal(other.status, 404, other.body);
    assert.equal(reasonOf(other.body), 'instance_not_in_compartment');
    assert.ok(!h.fhir.requests.some((r) => r.path === '/fhir/Observation/obs-hr-2'), 'the denied read reached the FHIR server');
  });

  it('denies _has (inference oracle) for every caller', async () => {
    const res = await h.requestAs('clinician', { path: '/fhir/Patient?_has:Observation:patient:code=8867-4' });
    assert.equal(res.status, 403);
    assert.equal(reasonOf(res.body), 'search_has_denied');
  });

  it('denies a batch that smuggles another patient\'s entry', async () => {
    const body = JSON.stringify({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `Observation?patient=${DEMO_PATIENT_ID}` } },
        { request: { method: 'GET', url: 'Observation?patient=example-patient-3' } },
      ],
    });
    const res = await h.requestAs('patient-app', { method: 'POST', path: '/fhir', body, headers: [['content-type', 'application/fhir+json']] });
    assert.equal(res.status, 403, res.body);
    assert.equal(reasonOf(res.body), 'patient_compartment_violation');
  });
});
