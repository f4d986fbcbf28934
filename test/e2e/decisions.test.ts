/**
 * Through the real Envoy: allow, 401, 403, body cap, path tricks, header hygiene and the access
 * log. One stack for the file; every test sends its own requests.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { diagnostics, startHarness } from './harness.ts';
import type { Harness, RawResponse } from './harness.ts';
import { DEMO_PATIENT_ID } from '../../src/cli/dev/personas.ts';

const MAX_BODY = 8192;
let h: Harness;

before(async () => {
  h = await startHarness({ maxBodyBytes: MAX_BODY });
});
after(async () => {
  await h?.close();
});

function assertSecurityHeaders(res: RawResponse): void {
  assert.match(String(res.headers['strict-transport-security']), /max-age=\d+/);
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(res.headers['pragma'], 'no-cache');
  assert.equal(res.headers['server'], 'fhirgate');
}

function assertOperationOutcome(res: RawResponse, reason: string): void {
  assert.match(String(res.headers['content-type']), /^application\/fhir\+json/);
  const body = JSON.parse(res.body) as { resourceType: string; issue: { details?: { coding?: { code?: string }[] } }[] };
  assert.equal(body.resourceType, 'OperationOutcome');
  assert.equal(body.issue[0]?.details?.coding?.[0]?.code, reason);
}

describe('decisions through Envoy', () => {
  it('allows the patient app to read observations (200 with the FHIR bundle)', async () => {
    const res = await h.requestAs('patient-app', { path: `/fhir/Observation?patient=${DEMO_PATIENT_ID}` });
    assert.equal(res.status, 200, `${res.body}\n${diagnostics(h)}`);
    const bundle = JSON.parse(res.body) as { resourceType: string; type: string; total: number; entry: { resource: { subject: { reference: string } } }[] };
    assert.equal(bundle.resourceType, 'Bundle');
    assert.equal(bundle.type, 'searchset');
    assert.equal(bundle.total, 3);
    for (const e of bundle.entry) assert.equal(e.resource.subject.reference, `Patient/${DEMO_PATIENT_ID}`);
    assertSecurityHeaders(res);
    assert.equal(h.fhir.lastRequest?.path, '/fhir/Observation');
    assert.equal(h.fhir.lastRequest?.query, `patient=${DEMO_PATIENT_ID}`);
  });

  it('allows the clinician and the partner system', async () => {
    for (const persona of ['clinician', 'partner']) {
      const res = await h.requestAs(persona, { path: '/fhir/Observation/obs-hr-2' });
      assert.equal(res.status, 200, `${persona}: ${res.body}`);
      assert.equal((JSON.parse(res.body) as { id: string }).id, 'obs-hr-2');
    }
  });

  it('answers 401 with WWW-Authenticate: Bearer and an OperationOutcome when no token is sent', async () => {
    const before = h.fhir.requestCount;
    const res = await h.request({ path: '/fhir/Observation' });
    assert.equal(res.status, 401);
    assert.match(String(res.headers['www-authenticate']), /^Bearer\b/);
    assertOperationOutcome(res, 'credential_missing');
    assertSecurityHeaders(res);
    assert.equal(h.fhir.requestCount, before, 'a denied request reached the FHIR server');
  });

  it('answers 401 invalid_token for a token that is not a valid JWT', async () => {
    const res = await h.request({ path: '/fhir/Observation', headers: [['authorization', 'Bearer not-a-real-token']] });
    assert.equal(res.status, 401);
    assert.match(String(res.headers['www-authenticate']), /^Bearer .*error="invalid_token"/);
    assert.equal(JSON.parse(res.body).resourceType, 'OperationOutcome');
  });

  it('answers 403 insufficient_scope for the app without FHIR scopes', async () => {
    const before = h.fhir.requestCount;
    const res = await h.requestAs('no-scope', { path: '/fhir/Observation' });
    assert.equal(res.status, 403);
    assert.match(String(res.headers['www-authenticate']), /error="insufficient_scope"/);
    assertOperationOutcome(res, 'scope_insufficient');
    assertSecurityHeaders(res);
    assert.equal(h.fhir.requestCount, before);
  });

  it('answers 413 for a body over the cap, and nothing reaches the FHIR server', async () => {
    const before = h.fhir.requestCount;
    const body = JSON.stringify({ resourceType: 'Observation', note: [{ text: 'x'.repeat(MAX_BODY * 4) }] });
    const res = await h.requestAs('clinician', {
      method: 'POST',
      path: '/fhir/Observation',
      headers: [['content-type', 'application/fhir+json']],
      body,
    });
    assert.equal(res.status, 413, res.body);
    assertSecurityHeaders(res);
    // Chunked (no content-length): the cap must hold for streamed bodies too.
    const chunked = await h.requestAs('clinician', {
      method: 'POST',
      path: '/fhir/Observation',
      headers: [
        ['content-type', 'application/fhir+json'],
        ['transfer-encoding', 'chunked'],
      ],
      body,
    });
    assert.equal(chunked.status, 413, chunked.body);
    assert.equal(h.fhir.requestCount, before);
  });

  it('never lets path tricks reach the FHIR server un-normalized', async () => {
    const tricks: { path: string; normalized?: string }[] = [
      { path: '/fhir/Patient/..%2F..%2Fadmin' },
      { path: '/fhir/Observation%2Fobs-hr-1' },
      { path: '/fhir/Observation%2fobs-hr-1' },
      { path: '/fhir/Patient/%2e%2e/%2e%2e/admin' },
      { path: '/fhir/../admin' },
      { path: '//fhir//Observation', normalized: '/fhir/Observation' },
      { path: '/fhir/./Observation', normalized: '/fhir/Observation' },
      { path: '/fhir/Patient/../Observation', normalized: '/fhir/Observation' },
      { path: '/fhir/Observation/./obs-hr-1', normalized: '/fhir/Observation/obs-hr-1' },
    ];
    for (const t of tricks) {
      const before = h.fhir.requestCount;
      const res = await h.requestAs('clinician', { path: t.path });
      assertSecurityHeaders(res);
      if (t.normalized === undefined) {
        assert.ok([400, 403, 404].includes(res.status), `${t.path} → ${res.status}`);
        assert.equal(h.fhir.requestCount, before, `${t.path} reached the FHIR server`);
      } else {
        assert.equal(res.status, 200, `${t.path} → ${res.status} ${res.body}`);
        assert.equal(h.fhir.lastRequest?.path, t.normalized);
      }
    }
    for (const seen of h.fhir.requests) {
      assert.doesNotMatch(seen.path, /\/\/|\/\.\.?(\/|$)|%2f|%5c|%2e/i, `upstream saw ${seen.path}`);
    }
  });

  it('rejects headers with underscores', async () => {
    const before = h.fhir.requestCount;
    const res = await h.requestAs('clinician', { path: '/fhir/Observation', headers: [['x_forwarded_for', '10.9.9.9']] });
    assert.equal(res.status, 400);
    assert.equal(h.fhir.requestCount, before);
  });

  it('strips Cookie, Proxy-Authorization and client x-envoy headers before the FHIR server', async () => {
    const res = await h.requestAs('clinician', {
      path: '/fhir/Patient/example-patient-2',
      headers: [
        ['cookie', 'session=abc123'],
        ['proxy-authorization', 'Basic c2VjcmV0'],
        ['x-envoy-original-path', '/fhir/Patient/elsewhere'],
        ['x-envoy-retry-on', '5xx'],
      ],
    });
    assert.equal(res.status, 200, res.body);
    const seen = h.fhir.lastRequest;
    assert.ok(seen);
    assert.equal(seen.path, '/fhir/Patient/example-patient-2');
    assert.equal(seen.headers['cookie'], undefined);
    assert.equal(seen.headers['proxy-authorization'], undefined);
    assert.equal(seen.headers['x-envoy-original-path'], undefined);
    assert.equal(seen.headers['x-envoy-retry-on'], undefined);
    for (const seenReq of h.fhir.requests) assert.equal(seenReq.headers['cookie'], undefined);
  });

  it('serves the public capabilities without a token', async () => {
    const res = await h.request({ path: '/fhir/metadata' });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).resourceType, 'CapabilityStatement');
  });

  it('writes an access log without query strings, tokens or cookies', async () => {
    const marker = 'querymarker7731';
    const token = await h.issuer.mint('patient-app');
    const res = await h.request({
      path: `/fhir/Observation?patient=${DEMO_PATIENT_ID}&note=${marker}`,
      headers: [
        ['authorization', `Bearer ${token}`],
        ['cookie', `sid=${marker}`],
        ['referer', `https://app.example/?q=${marker}`],
      ],
    });
    assert.equal(res.status, 200);
    const denied = await h.request({ path: `/fhir/Observation?name=${marker}`, headers: [['authorization', `Bearer ${token}x`]] });
    assert.equal(denied.status, 401);
    // Envoy flushes the file every 100 ms in the stack; wait (bounded) until both lines are there.
    let log = '';
    for (let i = 0; i < 50; i++) {
      log = h.accessLog();
      if ((log.match(/"path":"\/fhir\/Observation"/g) ?? []).length >= 2 && log.includes('"status":401')) break;
      await delay(100);
    }
    const lines = log.trim().split('\n').filter((l) => l !== '');
    assert.ok(lines.length >= 2, `access log has ${lines.length} lines`);
    for (const line of lines) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      assert.ok(!String(entry['path']).includes('?'), `query in ${line}`);
    }
    assert.ok(!log.includes(marker), 'query string, cookie or referer leaked into the access log');
    assert.ok(!log.includes(token.split('.')[1] ?? token), 'token leaked into the access log');
    assert.doesNotMatch(log, /bearer|eyJ/i);
    assert.match(log, /"authz_reason":"allowed"/);
  });
});
