import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { ManualClock } from '../../../src/core/clock.ts';
import { DemoIssuer } from '../../../src/cli/dev/issuer.ts';
import { PERSONAS, persona } from '../../../src/cli/dev/personas.ts';

const AUD = 'fhirgate-test';
let issuer: DemoIssuer;
const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));

async function getJson(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${issuer.issuer}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function jwks(): Promise<JSONWebKeySet> {
  return (await getJson('/jwks.json')).body as unknown as JSONWebKeySet;
}

before(async () => {
  issuer = await DemoIssuer.create({ audience: AUD, clock });
});
after(async () => {
  await issuer.stop();
});

describe('DemoIssuer', () => {
  it('serves OIDC and SMART discovery pointing at its own JWKS and token endpoint', async () => {
    for (const p of ['/.well-known/openid-configuration', '/.well-known/smart-configuration']) {
      const { status, body } = await getJson(p);
      assert.equal(status, 200);
      assert.equal(body['issuer'], issuer.issuer);
      assert.equal(body['jwks_uri'], `${issuer.issuer}/jwks.json`);
      assert.equal(body['token_endpoint'], `${issuer.issuer}/token`);
    }
    assert.match(issuer.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('publishes one public ES256 key without private parts', async () => {
    const set = await jwks();
    assert.equal(set.keys.length, 1);
    const key = set.keys[0];
    assert.ok(key);
    assert.equal(key.kty, 'EC');
    assert.equal(key.alg, 'ES256');
    assert.equal(key.kid, issuer.currentKid);
    assert.equal(key.d, undefined);
  });

  it('mints at+jwt tokens with the SMART claims of each persona, verifiable with the JWKS', async () => {
    const keys = createLocalJWKSet(await jwks());
    for (const p of Object.values(PERSONAS)) {
      const { status, body } = await getJson(`/token/${p.name}`);
      assert.equal(status, 200);
      assert.equal(body['token_type'], 'Bearer');
      assert.equal(body['expires_in'], 3600);
      const token = String(body['access_token']);
      assert.equal(decodeProtectedHeader(token).typ, 'at+jwt');
      const { payload } = await jwtVerify(token, keys, {
        issuer: issuer.issuer,
        audience: AUD,
        typ: 'at+jwt',
        currentDate: new Date(clock.now()),
      });
      assert.equal(payload.sub, p.subject);
      assert.equal(payload['client_id'], p.clientId);
      assert.equal(payload['scope'], p.scopes.join(' '));
      assert.equal(payload['patient'], p.patient);
      assert.equal(payload['fhirUser'], p.fhirUser);
      assert.equal(payload.iat, Math.floor(clock.now() / 1000));
      assert.equal(payload.exp, Math.floor(clock.now() / 1000) + 3600);
      assert.equal(typeof payload.jti, 'string');
    }
  });

  it('gives the patient app its launch patient and the no-scope app no FHIR scope', () => {
    assert.equal(persona('patient-app')?.patient, 'example-patient-1');
    assert.deepEqual(
      persona('patient-app')?.scopes.filter((s) => s.startsWith('patient/')),
      ['patient/Observation.rs', 'patient/Patient.r'],
    );
    assert.ok(persona('clinician')?.scopes.includes('user/*.rs'));
    assert.ok(persona('partner')?.scopes.includes('system/Observation.rs'));
    assert.ok(persona('no-scope')?.scopes.every((s) => !/^(patient|user|system)\//.test(s)));
    assert.equal(persona('__proto__'), undefined);
    assert.equal(persona('toString'), undefined);
  });

  it('accepts POST /token with a persona form and rejects unknown personas and oversized forms', async () => {
    const ok = await fetch(`${issuer.issuer}/token`, { method: 'POST', body: new URLSearchParams({ persona: 'partner' }) });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { scope: string }).scope, 'system/Observation.rs');
    const unknown = await fetch(`${issuer.issuer}/token`, { method: 'POST', body: new URLSearchParams({ persona: 'admin' }) });
    assert.equal(unknown.status, 400);
    const big = await fetch(`${issuer.issuer}/token`, { method: 'POST', body: `persona=${'a'.repeat(10_000)}` });
    assert.equal(big.status, 400);
    assert.equal((await fetch(`${issuer.issuer}/token/__proto__`)).status, 400);
    assert.equal((await fetch(`${issuer.issuer}/nope`)).status, 404);
  });

  it('counts requests per path', async () => {
    const before = issuer.requestCount('/jwks.json');
    await jwks();
    await jwks();
    assert.equal(issuer.requestCount('/jwks.json'), before + 2);
    assert.equal(issuer.requestCount('/never'), 0);
  });

  it('rotates keys: gracefully (old key still published) or dropping the old key', async () => {
    const first = issuer.currentKid;
    const second = await issuer.rotateKey();
    assert.equal(issuer.currentKid, second);
    assert.deepEqual((await jwks()).keys.map((k) => k.kid), [second, first]);
    const token = await issuer.mint('clinician');
    assert.equal(decodeProtectedHeader(token).kid, second);
    const third = await issuer.rotateKey({ dropOld: true });
    assert.deepEqual((await jwks()).keys.map((k) => k.kid), [third]);
  });

  it('stops answering on stop() and comes back on the same port on start()', async () => {
    const port = issuer.port;
    await issuer.stop();
    assert.equal(issuer.running, false);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/jwks.json`));
    await issuer.start();
    assert.equal(issuer.port, port);
    assert.equal((await fetch(`${issuer.issuer}/jwks.json`)).status, 200);
  });

  it('refuses to mint for unknown personas and to start without an audience', async () => {
    await assert.rejects(issuer.mint('root'), TypeError);
    await assert.rejects(DemoIssuer.create({ audience: '' }), TypeError);
  });
});
