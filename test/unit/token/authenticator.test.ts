import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ManualClock } from '../../../src/core/clock.ts';
import { Authenticator } from '../../../src/token/authenticator.ts';
import { TokenConfigError } from '../../../src/token/config.ts';
import type { IssuerConfig } from '../../../src/token/config.ts';
import { FakeIssuer, bearer, makeKey, mint, request } from './helpers.ts';
import type { TestKey } from './helpers.ts';

const AUD = 'https://fhir.example/r4';
const pemA = readFileSync(new URL('./fixtures/client-a.pem', import.meta.url), 'utf8');
const pemB = readFileSync(new URL('./fixtures/client-b.pem', import.meta.url), 'utf8');
const thumbA = createHash('sha256').update(new X509Certificate(pemA).raw).digest('base64url');

interface Ctx {
  srv: FakeIssuer;
  clock: ManualClock;
  auth: Authenticator;
  key: TestKey;
  now: number;
  cacheEvents: string[];
  claims: (extra?: Record<string, unknown>) => Record<string, unknown>;
}

async function setup(t: { after: (fn: () => Promise<void> | void) => void }, issuer: Partial<IssuerConfig> = {}): Promise<Ctx> {
  const srv = await new FakeIssuer().listen();
  const key = await makeKey('ES256', 'k1');
  srv.jwks([key]);
  const clock = new ManualClock();
  const cacheEvents: string[] = [];
  const auth = new Authenticator(
    {
      cache: { maxEntries: 100, maxSeconds: 300 },
      issuers: [
        {
          issuer: srv.url,
          audiences: [AUD],
          jwksUri: `${srv.url}/jwks`,
          allowInsecureLoopback: true,
          jwks: { maxStaleSeconds: 600, unknownKidCooldownSeconds: 30 },
          ...issuer,
        },
      ],
    },
    { clock, events: { cache: (o) => cacheEvents.push(o) } },
  );
  t.after(async () => {
    auth.close();
    await srv.close();
  });
  await auth.start();
  const now = Math.floor(clock.now() / 1000);
  const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    iss: srv.url,
    aud: AUD,
    sub: 'alice',
    client_id: 'app',
    scope: 'user/*.rs',
    jti: 'jti-1',
    iat: now,
    exp: now + 900,
    ...extra,
  });
  return { srv, clock, auth, key, now, cacheEvents, claims };
}

test('constructor refuses an invalid configuration', () => {
  assert.throws(() => new Authenticator({ issuers: [{ issuer: 'https://a', audiences: ['x'], algorithms: ['HS256' as 'RS256'] }] }), TokenConfigError);
});

test('verified tokens are cached: second request is a hit, no refetch, same principal', async (t) => {
  const { auth, key, claims, cacheEvents, srv } = await setup(t);
  const token = await mint(key, claims());
  const first = await auth.authenticate(bearer(token));
  const second = await auth.authenticate(bearer(token));
  assert.ok(first.ok && !first.cached);
  assert.ok(second.ok && second.cached);
  assert.equal(second.principal, first.principal);
  assert.deepEqual(cacheEvents, ['miss', 'hit']);
  assert.equal(srv.count('/jwks'), 1);
});

test('a cache hit and a missing credential are answered without a Promise; a verification through one', async (t) => {
  const { auth, key, claims } = await setup(t);
  const token = await mint(key, claims());
  const miss = auth.authenticate(bearer(token));
  assert.equal(typeof (miss as { then?: unknown }).then, 'function');
  assert.equal((await miss).ok, true);
  const hit = auth.authenticate(bearer(token));
  assert.equal(typeof (hit as { then?: unknown }).then, 'undefined');
  assert.ok(!('then' in hit) && hit.ok && hit.cached);
  const none = auth.authenticate(request({}));
  assert.ok(!('then' in none) && !none.ok && none.reason === 'credential_missing');
});

test('a cached token expires at exp (cache never outlives the token)', async (t) => {
  const { auth, key, claims, clock, now } = await setup(t);
  const token = await mint(key, claims({ exp: now + 120 }));
  assert.equal((await auth.authenticate(bearer(token))).ok, true);
  clock.advance(120_000);
  const r = await auth.authenticate(bearer(token));
  assert.equal(r.ok, true, 'within clock skew after exp, re-verified');
  assert.ok(r.ok && !r.cached);
  clock.advance(61_000);
  assert.deepEqual(await auth.authenticate(bearer(token)), { ok: false, reason: 'token_expired' });
});

test('revoked jti / subject / client are refused, also on cache hits', async (t) => {
  const { auth, key, claims, srv } = await setup(t);
  const token = await mint(key, claims());
  assert.equal((await auth.authenticate(bearer(token))).ok, true);
  for (const r of [{ jtis: ['jti-1'] }, { subjects: [{ issuer: srv.url, subject: 'alice' }] }, { clients: ['app'] }]) {
    auth.setRevocations(r);
    const res = await auth.authenticate(bearer(token));
    assert.equal(!res.ok && res.reason, 'token_revoked', JSON.stringify(r));
    assert.equal(!res.ok && res.principal?.subject, 'alice');
  }
  auth.setRevocations({});
  assert.ok((await auth.authenticate(bearer(token))).ok);
});

test('revocations from the configuration apply from the start', async (t) => {
  const { key, claims, srv, clock } = await setup(t);
  const auth = new Authenticator(
    {
      issuers: [{ issuer: srv.url, audiences: [AUD], jwksUri: `${srv.url}/jwks`, allowInsecureLoopback: true }],
      revocations: { jtis: ['jti-2'] },
    },
    { clock },
  );
  t.after(() => auth.close());
  await auth.start();
  const r = await auth.authenticate(bearer(await mint(key, claims({ jti: 'jti-2' }))));
  assert.equal(!r.ok && r.reason, 'token_revoked');
  assert.ok((await auth.authenticate(bearer(await mint(key, claims({ jti: 'jti-3' }))))).ok);
});

test('certificate-bound token: match passes, mismatch and missing cert are refused', async (t) => {
  const { auth, key, claims } = await setup(t);
  const token = await mint(key, claims({ cnf: { 'x5t#S256': thumbA } }));
  const ok = await auth.authenticate(request({ authorization: `Bearer ${token}`, peerCertificatePem: pemA }));
  assert.ok(ok.ok);
  assert.equal(ok.principal.certThumbprint, thumbA);
  const wrong = await auth.authenticate(request({ authorization: `Bearer ${token}`, peerCertificatePem: pemB }));
  assert.equal(!wrong.ok && wrong.reason, 'token_binding_mismatch');
  const none = await auth.authenticate(bearer(token));
  assert.equal(!none.ok && none.reason, 'token_binding_required');
});

test('requireCertificateBinding makes unbound tokens fail', async (t) => {
  const { auth, key, claims } = await setup(t, { requireCertificateBinding: true });
  const r = await auth.authenticate(request({ authorization: `Bearer ${await mint(key, claims())}`, peerCertificatePem: pemA }));
  assert.equal(!r.ok && r.reason, 'token_binding_required');
});

test('certificateBoundClients requires binding only for the named clients', async (t) => {
  const { auth, key, claims } = await setup(t, { certificateBoundClients: ['mtls-app'] });
  assert.ok((await auth.authenticate(bearer(await mint(key, claims())))).ok);
  const r = await auth.authenticate(bearer(await mint(key, claims({ client_id: 'mtls-app' }))));
  assert.equal(!r.ok && r.reason, 'token_binding_required');
});

test('JWKS outage: cached keys work until maxStale, then issuer_keys_unavailable (503 + Retry-After)', async (t) => {
  const { auth, key, claims, clock, srv } = await setup(t);
  srv.json('/jwks', {}, 503);
  clock.advance(590_000);
  const fresh = await mint(key, claims({ iat: Math.floor(clock.now() / 1000), exp: Math.floor(clock.now() / 1000) + 300, jti: 'a' }));
  assert.ok((await auth.authenticate(bearer(fresh))).ok);
  assert.equal(auth.ready(), true);
  clock.advance(20_000);
  assert.equal(auth.ready(), false);
  const later = await mint(key, claims({ iat: Math.floor(clock.now() / 1000), exp: Math.floor(clock.now() / 1000) + 300, jti: 'b' }));
  const r = await auth.authenticate(bearer(later));
  assert.equal(!r.ok && r.reason, 'issuer_keys_unavailable');
  assert.ok(!r.ok && typeof r.retryAfterSeconds === 'number' && r.retryAfterSeconds >= 1);
});

test('start() during an outage does not throw and leaves ready() false', async (t) => {
  const srv = await new FakeIssuer().listen();
  const auth = new Authenticator({ issuers: [{ issuer: srv.url, audiences: [AUD], allowInsecureLoopback: true }] }, { clock: new ManualClock() });
  t.after(async () => {
    auth.close();
    await srv.close();
  });
  await auth.start();
  assert.equal(auth.ready(), false);
  assert.equal(srv.count('/.well-known/openid-configuration'), 1);
  assert.equal(srv.count('/.well-known/smart-configuration'), 1);
});

test("tokens are verified with their own issuer's keys only", async (t) => {
  const a = await setup(t);
  const other = await new FakeIssuer().listen();
  const otherKey = await makeKey('ES256', 'k1'); // same kid, different key
  other.jwks([otherKey]);
  const auth = new Authenticator(
    {
      issuers: [
        { issuer: a.srv.url, audiences: [AUD], jwksUri: `${a.srv.url}/jwks`, allowInsecureLoopback: true },
        { issuer: other.url, audiences: [AUD], jwksUri: `${other.url}/jwks`, allowInsecureLoopback: true },
      ],
    },
    { clock: a.clock },
  );
  t.after(async () => {
    auth.close();
    await other.close();
  });
  await auth.start();
  // Signed by issuer A's key but claiming to come from the other issuer.
  const forged = await mint(a.key, a.claims({ iss: other.url }));
  const r = await auth.authenticate(bearer(forged));
  assert.equal(!r.ok && r.reason, 'token_signature_invalid');
  assert.ok((await auth.authenticate(bearer(await mint(otherKey, a.claims({ iss: other.url }))))).ok);
});

test('opaque token without an introspection issuer → token_issuer_unknown', async (t) => {
  const { auth } = await setup(t);
  assert.deepEqual(await auth.authenticate(bearer('opaque0123456789')), { ok: false, reason: 'token_issuer_unknown' });
});

test('missing credential → credential_missing', async (t) => {
  const { auth } = await setup(t);
  assert.deepEqual(await auth.authenticate(request()), { ok: false, reason: 'credential_missing' });
});

test('claims mapping is per issuer (roles from realm_access.roles)', async (t) => {
  const { auth, key, claims } = await setup(t, { claims: { roles: 'realm_access.roles', patient: 'launch.patient' } });
  const r = await auth.authenticate(bearer(await mint(key, claims({ realm_access: { roles: ['nurse'] }, launch: { patient: 'p1' } }))));
  assert.ok(r.ok);
  assert.deepEqual(r.principal.roles, ['nurse']);
  assert.equal(r.principal.patient, 'p1');
});

test('a throwing telemetry hook never breaks authentication', async (t) => {
  const srv = await new FakeIssuer().listen();
  const key = await makeKey('ES256', 'k1');
  srv.jwks([key]);
  const clock = new ManualClock();
  const boom = (): never => {
    throw new Error('telemetry down');
  };
  const auth = new Authenticator(
    { issuers: [{ issuer: srv.url, audiences: [AUD], jwksUri: `${srv.url}/jwks`, allowInsecureLoopback: true }] },
    { clock, events: { cache: boom, jwksFetch: boom, introspection: boom } },
  );
  t.after(async () => {
    auth.close();
    await srv.close();
  });
  await auth.start();
  const now = Math.floor(clock.now() / 1000);
  const r = await auth.authenticate(bearer(await mint(key, { iss: srv.url, aud: AUD, sub: 's', iat: now, exp: now + 60 })));
  assert.equal(r.ok, true);
});

test('a malformed credential is refused before the cache and never counted as a cache miss', async (t) => {
  const { auth, cacheEvents } = await setup(t);
  const r = await auth.authenticate(bearer('not a token!'));
  assert.deepEqual(r, { ok: false, reason: 'credential_malformed' });
  assert.deepEqual(cacheEvents, []);
});
