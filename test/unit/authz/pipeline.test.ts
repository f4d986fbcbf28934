import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckPipeline } from '../../../src/authz/pipeline.ts';
import type { AuthenticatePort, CheckOutcome } from '../../../src/authz/pipeline.ts';
import { checkRequest, principal } from '../../support/fixtures.ts';
import type { CheckRequestInit } from '../../support/fixtures.ts';
import { engine } from '../../support/policy.ts';

const policy = engine();

function pipeline(authn: AuthenticatePort, opts: { noPolicy?: boolean } = {}) {
  const outcomes: CheckOutcome[] = [];
  const p = new CheckPipeline({
    authenticator: authn,
    authorizer: () => (opts.noPolicy ? undefined : policy),
    maxBodyBytes: 100,
    record: (o) => outcomes.push(o),
  });
  return { p, outcomes };
}

const okAuth: AuthenticatePort = {
  authenticate: async () => ({ ok: true, principal: principal({ scopes: ['patient/Observation.rs'], patient: '1' }), cached: true }),
};

test('allow flows through every phase and is recorded once', async () => {
  const { p, outcomes } = pipeline(okAuth);
  const res = await p.check(checkRequest({ path: '/fhir/Observation?patient=1', headers: { authorization: 'Bearer x' } }));
  assert.equal(res.status.code, 0);
  assert.equal(outcomes.length, 1);
  assert.equal(outcomes[0]?.decision.kind, 'allow');
  assert.equal(outcomes[0]?.tokenCached, true);
  assert.ok((outcomes[0]?.durationSeconds ?? -1) >= 0);
});

test('authentication failure is a 401 from the authenticate phase', async () => {
  const { p, outcomes } = pipeline({ authenticate: async () => ({ ok: false, reason: 'token_expired' }) });
  const res = await p.check(checkRequest());
  assert.equal(res.denied_response?.status.code, 'Unauthorized');
  const d = outcomes[0]?.decision;
  assert.equal(d?.kind === 'deny' && d.phase, 'authenticate');
});

test('public route skips authentication', async () => {
  let called = 0;
  const { p } = pipeline({ authenticate: async () => (called++, { ok: false, reason: 'credential_missing' }) });
  const res = await p.check(checkRequest({ path: '/fhir/metadata' }));
  assert.equal(res.status.code, 0);
  assert.equal(called, 0);
});

test('no policy loaded → 503 policy_unavailable, never allow', async () => {
  const { p } = pipeline(okAuth, { noPolicy: true });
  const res = await p.check(checkRequest());
  assert.equal(res.denied_response?.status.code, 'ServiceUnavailable');
});

test('body over the cap, partial body or declared size over the cap → 413 before authentication', async () => {
  let called = 0;
  const { p } = pipeline({ authenticate: async () => (called++, { ok: true, principal: principal() }) });
  const cases: CheckRequestInit[] = [
    { method: 'POST', body: 'x'.repeat(101) },
    { method: 'POST', body: '{}', headers: { 'x-envoy-auth-partial-body': 'true' } },
    { method: 'POST', body: '{}', headers: { 'content-length': '5000' } },
  ];
  for (const init of cases) {
    const res = await p.check(checkRequest({ path: '/fhir/Observation', ...init }));
    assert.equal(res.denied_response?.status.code, 'PayloadTooLarge');
  }
  assert.equal(called, 0);
});

test('an authenticator that throws ends in 503 internal_error (fail closed)', async () => {
  const { p, outcomes } = pipeline({
    authenticate: async () => {
      throw new Error('boom');
    },
  });
  const res = await p.check(checkRequest());
  assert.equal(res.denied_response?.status.code, 'ServiceUnavailable');
  assert.ok(outcomes[0]?.error instanceof Error);
});

test('a recorder that throws does not change the answer', async () => {
  const p = new CheckPipeline({
    authenticator: okAuth,
    authorizer: () => policy,
    maxBodyBytes: 100,
    record: () => {
      throw new Error('sink down');
    },
  });
  const res = await p.check(checkRequest({ path: '/fhir/Observation?patient=1' }));
  assert.equal(res.status.code, 0);
});

test('malformed CheckRequest → 400 from ingest', async () => {
  const { p, outcomes } = pipeline(okAuth);
  const res = await p.check({});
  assert.equal(res.denied_response?.status.code, 'BadRequest');
  assert.equal(outcomes[0]?.request, undefined);
});

test('verify-instance obligations: match → allow, no-match → 404, unavailable or no verifier → 503', async () => {
  const verifyEngine = engine({ patientCompartment: { instanceAccess: 'verify' } });
  const auth: AuthenticatePort = { authenticate: async () => ({ ok: true, principal: principal({ scopes: ['patient/*.rs'], patient: '1' }) }) };
  const run = async (outcome: 'match' | 'no-match' | 'unavailable' | undefined) => {
    const p = new CheckPipeline({
      authenticator: auth,
      authorizer: () => verifyEngine,
      maxBodyBytes: 100,
      record: () => undefined,
      ...(outcome === undefined ? {} : { verifier: { verify: async () => outcome } }),
    });
    return (await p.check(checkRequest({ path: '/fhir/Observation/o1' }))).denied_response?.status.code ?? 'OK';
  };
  assert.equal(await run('match'), 'OK');
  assert.equal(await run('no-match'), 'NotFound');
  assert.equal(await run('unavailable'), 'ServiceUnavailable');
  assert.equal(await run(undefined), 'ServiceUnavailable');
});

test('an answer known at once comes back without a Promise; one that waits comes back as a Promise — same decision', async () => {
  const p1 = principal({ scopes: ['patient/Observation.rs'], patient: '1' });
  const req = checkRequest({ path: '/fhir/Observation?patient=1', headers: { authorization: 'Bearer x' } });
  const sync = pipeline({ authenticate: () => ({ ok: true, principal: p1, cached: true }) });
  const now = sync.p.check(req);
  assert.equal(typeof (now as { then?: unknown }).then, 'undefined', 'no Promise on the all-synchronous path');
  const later = pipeline({ authenticate: async () => ({ ok: true, principal: p1, cached: true }) });
  const waited = later.p.check(req);
  assert.equal(typeof (waited as { then?: unknown }).then, 'function');
  assert.deepEqual(await waited, now);
  assert.equal(sync.outcomes.length, 1);
  assert.equal(later.outcomes.length, 1);
});

test('an authenticator that throws synchronously or rejects ends in internal_error (503), recorded with the error', async () => {
  for (const authenticate of [
    (): never => {
      throw new Error('boom');
    },
    (): Promise<never> => Promise.reject(new Error('boom')),
  ]) {
    const { p, outcomes } = pipeline({ authenticate });
    const res = await p.check(checkRequest({ path: '/fhir/Observation?patient=1', headers: { authorization: 'Bearer x' } }));
    assert.equal(res.denied_response?.status.code, 'ServiceUnavailable');
    assert.equal(outcomes[0]?.decision.reason, 'internal_error');
    assert.ok(outcomes[0]?.error instanceof Error);
  }
});
