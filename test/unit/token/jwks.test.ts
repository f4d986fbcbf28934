import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/core/clock.ts';
import { resolveTokenConfig } from '../../../src/token/config.ts';
import type { IssuerConfig, ResolvedIssuerConfig } from '../../../src/token/config.ts';
import type { TokenEvents } from '../../../src/token/events.ts';
import { KeyStore } from '../../../src/token/jwks.ts';
import { FakeIssuer, makeKey } from './helpers.ts';

interface Setup {
  srv: FakeIssuer;
  clock: ManualClock;
  store: KeyStore;
  fetches: Array<[string, string, number]>;
  cfg: ResolvedIssuerConfig;
}

async function setup(
  t: { after: (fn: () => Promise<void> | void) => void },
  issuerOverrides: (url: string) => Partial<IssuerConfig> = (url) => ({ jwksUri: `${url}/jwks` }),
): Promise<Setup> {
  const srv = await new FakeIssuer().listen();
  const clock = new ManualClock();
  const fetches: Array<[string, string, number]> = [];
  const events: TokenEvents = { jwksFetch: (_i, outcome, trigger, ignored) => fetches.push([outcome, trigger, ignored]) };
  const cfg = resolveTokenConfig({
    issuers: [
      {
        issuer: srv.url,
        audiences: ['fhir'],
        allowInsecureLoopback: true,
        jwks: { refreshSeconds: 60, maxStaleSeconds: 600, timeoutMs: 2000, unknownKidCooldownSeconds: 30 },
        ...issuerOverrides(srv.url),
      },
    ],
  }).issuers[0];
  assert.ok(cfg);
  const store = new KeyStore(cfg, { clock, fetch, events, random: () => 0 });
  t.after(async () => {
    store.close();
    await srv.close();
  });
  return { srv, clock, store, fetches, cfg };
}

test('explicit jwksUri: keys load at start, known kid needs no further fetch', async (t) => {
  const { srv, store, fetches } = await setup(t);
  const k = await makeKey('ES256', 'k1');
  srv.jwks([k]);
  await store.start();
  assert.equal(store.ready(), true);
  for (let i = 0; i < 20; i++) assert.equal((await store.resolve('k1', 'ES256')).ok, true);
  assert.equal(srv.count('/jwks'), 1);
  assert.deepEqual(fetches, [['ok', 'start', 0]]);
});

test('a known kid with a different algorithm is refused without a refetch', async (t) => {
  const { srv, store } = await setup(t);
  srv.jwks([await makeKey('ES256', 'k1')]);
  await store.start();
  assert.deepEqual(await store.resolve('k1', 'RS256'), { ok: false, reason: 'token_signature_invalid' });
  assert.equal(srv.count('/jwks'), 1);
});

test('OIDC discovery finds the JWKS', async (t) => {
  const { srv, store } = await setup(t, () => ({}));
  srv.json('/.well-known/openid-configuration', { issuer: srv.url, jwks_uri: `${srv.url}/keys` });
  srv.jwks([await makeKey('RS256', 'r1')], '/keys');
  await store.start();
  assert.equal(store.ready(), true);
  assert.equal(srv.count('/.well-known/openid-configuration'), 1);
});

test('falls back to SMART discovery when OIDC discovery is absent', async (t) => {
  const { srv, store } = await setup(t, () => ({}));
  srv.json('/.well-known/smart-configuration', { issuer: srv.url, jwks_uri: `${srv.url}/keys` });
  srv.jwks([await makeKey('RS256', 'r1')], '/keys');
  await store.start();
  assert.equal(store.ready(), true);
  assert.equal(srv.count('/.well-known/openid-configuration'), 1);
  assert.equal(srv.count('/.well-known/smart-configuration'), 1);
});

test('discovery naming another issuer is refused', async (t) => {
  const { srv, store, fetches } = await setup(t, () => ({}));
  srv.json('/.well-known/openid-configuration', { issuer: 'https://evil.example', jwks_uri: `${srv.url}/keys` });
  srv.jwks([await makeKey('RS256', 'r1')], '/keys');
  await store.start();
  assert.equal(store.ready(), false);
  assert.equal(srv.count('/keys'), 0);
  assert.deepEqual(fetches, [['discovery_failed', 'start', 0]]);
});

test('https only: plain http is refused without a request unless loopback is allowed', async (t) => {
  const { srv, store, fetches } = await setup(t, (url) => ({ jwksUri: `${url}/jwks`, allowInsecureLoopback: false }));
  srv.jwks([await makeKey('ES256', 'k1')]);
  await store.start();
  assert.equal(store.ready(), false);
  assert.equal(srv.requests.length, 0);
  assert.deepEqual(fetches, [['insecure_url', 'start', 0]]);
});

test('unknown-kid flood → at most one refetch per cooldown, shared by concurrent requests', async (t) => {
  const { srv, store, clock } = await setup(t);
  srv.jwks([await makeKey('ES256', 'k1')]);
  await store.start();
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => store.resolve(`random-${i}`, 'ES256')));
  assert.ok(results.every((r) => !r.ok && r.reason === 'token_signature_invalid'));
  assert.equal(srv.count('/jwks'), 2); // start + one refetch
  for (let i = 0; i < 50; i++) await store.resolve(`again-${i}`, 'ES256');
  assert.equal(srv.count('/jwks'), 2);
  clock.advance(30_000);
  await Promise.all(Array.from({ length: 50 }, (_, i) => store.resolve(`later-${i}`, 'ES256')));
  assert.equal(srv.count('/jwks'), 3);
});

test('key rotation: a new kid is picked up by the one permitted refetch', async (t) => {
  const { srv, store } = await setup(t);
  const k1 = await makeKey('ES256', 'k1');
  const k2 = await makeKey('ES256', 'k2');
  srv.jwks([k1]);
  await store.start();
  srv.jwks([k1, k2]);
  assert.equal((await store.resolve('k2', 'ES256')).ok, true);
  assert.equal(srv.count('/jwks'), 2);
});

test('outage: last good keys used until maxStale, then issuer_keys_unavailable; recovery after cooldown', async (t) => {
  const { srv, store, clock, fetches } = await setup(t);
  const k1 = await makeKey('ES256', 'k1');
  srv.jwks([k1]);
  await store.start();
  srv.json('/jwks', { error: 'down' }, 500);
  assert.equal(await store.refresh('background'), false);
  clock.advance(599_000);
  assert.equal((await store.resolve('k1', 'ES256')).ok, true);
  assert.equal(srv.count('/jwks'), 2); // no request-path fetch while keys are known and fresh enough
  clock.advance(2_000);
  assert.equal(store.ready(), false);
  const denied = await store.resolve('k1', 'ES256');
  assert.equal(denied.ok, false);
  assert.equal(!denied.ok && denied.reason, 'issuer_keys_unavailable');
  assert.ok(!denied.ok && (denied.retryAfterSeconds ?? 0) >= 1);
  assert.equal(srv.count('/jwks'), 3); // one stale-triggered attempt
  await store.resolve('k1', 'ES256');
  assert.equal(srv.count('/jwks'), 3); // inside the cooldown: no more fetches
  srv.jwks([k1]);
  clock.advance(30_000);
  assert.equal((await store.resolve('k1', 'ES256')).ok, true);
  assert.equal(srv.count('/jwks'), 4);
  assert.deepEqual(fetches.map((f) => f[0]), ['ok', 'http_error', 'http_error', 'ok']);
});

test('a JWKS exposing private key material is refused and good keys are kept', async (t) => {
  const { srv, store, fetches } = await setup(t);
  const k1 = await makeKey('ES256', 'k1');
  srv.jwks([k1]);
  await store.start();
  srv.json('/jwks', { keys: [{ ...k1.publicJwk, d: 'AAAA' }] });
  assert.equal(await store.refresh('background'), false);
  assert.equal((await store.resolve('k1', 'ES256')).ok, true);
  assert.equal(fetches.at(-1)?.[0], 'invalid');
});

test('unusable keys are skipped and counted', async (t) => {
  const { srv, store, fetches } = await setup(t);
  const k1 = await makeKey('ES256', 'k1');
  const enc = { ...(await makeKey('RS256', 'e1')).publicJwk, use: 'enc' };
  const unknownCurve = { kty: 'EC', crv: 'secp256k1', x: 'AA', y: 'AA', kid: 'c1' };
  const hsOnly = { ...(await makeKey('RS256', 'r9')).publicJwk, alg: 'RS512' }; // not in the allowlist
  srv.json('/jwks', { keys: [k1.publicJwk, enc, unknownCurve, hsOnly, 'junk'] });
  await store.start();
  assert.equal(store.size, 1);
  assert.deepEqual(fetches, [['ok', 'start', 4]]);
});

test('responses over the size cap are refused', async (t) => {
  const { srv, store, fetches } = await setup(t, (url) => ({ jwksUri: `${url}/jwks`, jwks: { maxBytes: 1024 } }));
  srv.routes.set('/jwks', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [], pad: 'x'.repeat(5000) }));
  });
  await store.start();
  assert.equal(store.ready(), false);
  assert.deepEqual(fetches, [['too_large', 'start', 0]]);
});

test('a hanging JWKS endpoint times out', async (t) => {
  const { srv, store, fetches } = await setup(t, (url) => ({ jwksUri: `${url}/jwks`, jwks: { timeoutMs: 50 } }));
  srv.routes.set('/jwks', () => {
    /* never answers; FakeIssuer.close() drops the connection */
  });
  await store.start();
  assert.equal(store.ready(), false);
  assert.deepEqual(fetches, [['timeout', 'start', 0]]);
});

test('background refresh runs before keys go stale, and stops on close()', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const { srv, store, fetches } = await setup(t);
  srv.jwks([await makeKey('ES256', 'k1')]);
  await store.start();
  assert.equal(srv.count('/jwks'), 1);
  mock.timers.tick(59_999);
  await store.refresh('stale'); // nothing in flight yet: this starts its own fetch
  assert.equal(fetches.at(-1)?.[1], 'stale');
  mock.timers.tick(1); // random() = 0 → exactly refreshSeconds after start
  await store.refresh('stale'); // joins the fetch the timer started, so the trigger recorded is 'background'
  assert.equal(fetches.at(-1)?.[1], 'background');
  assert.equal(srv.count('/jwks'), 3);
  store.close();
  mock.timers.tick(600_000);
  await store.refresh('stale');
  assert.equal(fetches.at(-1)?.[1], 'stale');
  assert.equal(srv.count('/jwks'), 4);
});
