/**
 * Fail closed: when fhirgate-authz hangs or dies, Envoy answers 403/503 — never 200 — and the FHIR
 * server sees nothing. The hang runs first (SIGSTOP, then SIGCONT), the kill last.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from './harness.ts';
import type { Harness } from './harness.ts';

const AUTHZ_TIMEOUT_MS = 250;
let h: Harness;

before(async () => {
  h = await startHarness({ authzTimeoutMs: AUTHZ_TIMEOUT_MS });
});
after(async () => {
  h?.sidecar.signal('SIGCONT');
  await h?.close();
});

describe('sidecar failure through Envoy', () => {
  it('answers 403/503 within the ext_authz timeout while the sidecar is hung (SIGSTOP)', async () => {
    const ok = await h.requestAs('clinician', { path: '/fhir/Observation' });
    assert.equal(ok.status, 200, 'baseline request should pass');
    const before = h.fhir.requestCount;
    assert.ok(h.sidecar.signal('SIGSTOP'));
    try {
      for (let i = 0; i < 5; i++) {
        const res = await h.requestAs('clinician', { path: `/fhir/Observation?attempt=${i}`, timeoutMs: 5000 });
        assert.ok([403, 503].includes(res.status), `hung sidecar → ${res.status}`);
        // Generous bound over the 250 ms deadline for a loaded 2-core CI machine; the point is
        // that Envoy does not wait for the sidecar indefinitely.
        assert.ok(res.elapsedMs < AUTHZ_TIMEOUT_MS + 1500, `took ${Math.round(res.elapsedMs)} ms`);
        assert.equal(res.headers['x-content-type-options'], 'nosniff');
      }
    } finally {
      h.sidecar.signal('SIGCONT');
    }
    assert.equal(h.fhir.requestCount, before, 'a request reached the FHIR server while the sidecar was hung');
    // And it recovers once the sidecar runs again (bounded retries).
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) status = (await h.requestAs('clinician', { path: '/fhir/Observation' })).status;
    assert.equal(status, 200, 'the stack did not recover after SIGCONT');
  });

  it('answers 403/503 — never 200 — once the sidecar is killed (SIGKILL)', async () => {
    assert.ok(h.sidecar.signal('SIGKILL'));
    await h.sidecar.exited;
    const before = h.fhir.requestCount;
    for (let i = 0; i < 10; i++) {
      const res = await h.requestAs(i % 2 === 0 ? 'clinician' : 'patient-app', { path: '/fhir/Observation' });
      assert.ok([403, 503].includes(res.status), `dead sidecar → ${res.status}`);
      assert.notEqual(res.status, 200);
    }
    const pub = await h.request({ path: '/fhir/metadata' });
    assert.ok([403, 503].includes(pub.status), `public path with a dead sidecar → ${pub.status}`);
    assert.equal(h.fhir.requestCount, before, 'a request reached the FHIR server with the sidecar dead');
  });
});
