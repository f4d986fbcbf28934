import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../../src/core/clock.ts';
import { Authenticator } from '../../../src/token/authenticator.ts';
import type { IntrospectionOutcome } from '../../../src/token/events.ts';
import { basicAuth } from '../../../src/token/introspection.ts';
import { FakeIssuer, bearer } from './helpers.ts';

const AUD = 'https://fhir.example/r4';
const OPAQUE = 'opaque-token-0123456789abcdef';

interface Ctx {
  srv: FakeIssuer;
  clock: ManualClock;
  auth: Authenticator;
  secretFile: string;
  outcomes: IntrospectionOutcome[];
  now: number;
}

async function setup(t: { after: (fn: () => Promise<void> | void) => void }, opts: { writeSecret?: boolean; timeoutMs?: number } = {}): Promise<Ctx> {
  const srv = await new FakeIssuer().listen();
  const dir = mkdtempSync(join(tmpdir(), 'fhirgate-introspection-'));
  const secretFile = join(dir, 'client-secret');
  if (opts.writeSecret !== false) writeFileSync(secretFile, 's3cr3t:&=\n');
  const clock = new ManualClock();
  const outcomes: IntrospectionOutcome[] = [];
  const auth = new Authenticator(
    {
      issuers: [
        {
          issuer: srv.url,
          audiences: [AUD],
          allowInsecureLoopback: true,
          introspection: {
            endpoint: `${srv.url}/introspect`,
            clientId: 'fhirgate rs',
            clientSecretFile: secretFile,
            timeoutMs: opts.timeoutMs ?? 2000,
            maxCacheSeconds: 60,
          },
        },
      ],
    },
    { clock, events: { introspection: (_i, o) => outcomes.push(o) } },
  );
  await auth.start();
  t.after(async () => {
    auth.close();
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { srv, clock, auth, secretFile, outcomes, now: Math.floor(clock.now() / 1000) };
}

const active = (now: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  active: true,
  iss: undefined,
  scope: 'launch/patient patient/Observation.rs',
  client_id: 'app',
  sub: 'bob',
  exp: now + 600,
  patient: 'p-42',
  fhirUser: 'Practitioner/7',
  ...extra,
});

test('active reply → opaque principal; request is an RFC 7662 form POST with Basic client auth', async (t) => {
  const { srv, auth, now } = await setup(t);
  srv.json('/introspect', active(now, { iss: srv.url, aud: [AUD, 'other'] }));
  const r = await auth.authenticate(bearer(OPAQUE));
  assert.ok(r.ok);
  assert.equal(r.principal.tokenKind, 'opaque');
  assert.equal(r.principal.issuer, srv.url);
  assert.equal(r.principal.patient, 'p-42');
  assert.equal(r.principal.clientId, 'app');
  assert.deepEqual(r.principal.scopes, ['launch/patient', 'patient/Observation.rs']);
  const req = srv.requests[0];
  assert.ok(req);
  assert.equal(req.method, 'POST');
  assert.match(String(req.headers['content-type']), /^application\/x-www-form-urlencoded/);
  assert.deepEqual(Object.fromEntries(new URLSearchParams(req.body)), { token: OPAQUE, token_type_hint: 'access_token' });
  assert.equal(req.headers.authorization, basicAuth('fhirgate rs', 's3cr3t:&='));
  assert.equal(Buffer.from(String(req.headers.authorization).slice(6), 'base64').toString(), 'fhirgate+rs:s3cr3t%3A%26%3D');
  assert.ok(!JSON.stringify(r).includes('s3cr3t'));
});

test('answers are cached no longer than maxCacheSeconds (and never past exp)', async (t) => {
  const { srv, auth, clock, now } = await setup(t);
  srv.json('/introspect', active(now));
  assert.equal((await auth.authenticate(bearer(OPAQUE))).ok, true);
  const second = await auth.authenticate(bearer(OPAQUE));
  assert.ok(second.ok && second.cached);
  assert.equal(srv.count('/introspect'), 1);
  clock.advance(60_000);
  assert.equal((await auth.authenticate(bearer(OPAQUE))).ok, true);
  assert.equal(srv.count('/introspect'), 2);
  srv.json('/introspect', active(now, { exp: now + 130 }));
  clock.advance(60_000); // t = now+120: cached entry expired (maxCacheSeconds)
  assert.equal((await auth.authenticate(bearer(OPAQUE))).ok, true);
  assert.equal(srv.count('/introspect'), 3);
  clock.advance(10_000); // t = now+130 = exp: the entry ends at exp even though maxCacheSeconds has not passed
  await auth.authenticate(bearer(OPAQUE));
  assert.equal(srv.count('/introspect'), 4);
  srv.json('/introspect', active(now, { exp: now + 50 }));
  clock.advance(60_000); // t = now+190: beyond exp + skew
  const r = await auth.authenticate(bearer(OPAQUE));
  assert.deepEqual(r, { ok: false, reason: 'token_expired' });
});

test('active=false → token_inactive', async (t) => {
  const { srv, auth, outcomes } = await setup(t);
  srv.json('/introspect', { active: false });
  assert.deepEqual(await auth.authenticate(bearer(OPAQUE)), { ok: false, reason: 'token_inactive' });
  assert.deepEqual(outcomes, ['inactive']);
});

for (const status of [500, 503, 401, 400, 302]) {
  test(`introspection HTTP ${status} → introspection_unavailable (503)`, async (t) => {
    const { srv, auth } = await setup(t);
    srv.json('/introspect', { active: true }, status);
    assert.deepEqual(await auth.authenticate(bearer(OPAQUE)), { ok: false, reason: 'introspection_unavailable', retryAfterSeconds: 5 });
  });
}

test('introspection reply without "active" (or not boolean, or not JSON) → introspection_unavailable', async (t) => {
  const { srv, auth, outcomes } = await setup(t);
  for (const body of [{ scope: 'x' }, { active: 'true' }, { active: 1 }, [true], 'active']) {
    srv.json('/introspect', body);
    const r = await auth.authenticate(bearer(OPAQUE));
    assert.equal(!r.ok && r.reason, 'introspection_unavailable', JSON.stringify(body));
  }
  srv.routes.set('/introspect', (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"active":true,'));
  assert.equal((await auth.authenticate(bearer(OPAQUE))).ok, false);
  srv.routes.set('/introspect', (_req, res) => res.writeHead(200).end('{"active":true,"active":false}'));
  const dup = await auth.authenticate(bearer(OPAQUE));
  assert.equal(!dup.ok && dup.reason, 'introspection_unavailable');
  assert.ok(outcomes.every((o) => o === 'invalid_reply'));
});

test('introspection timeout → introspection_unavailable', async (t) => {
  const { srv, auth, outcomes } = await setup(t, { timeoutMs: 50 });
  srv.routes.set('/introspect', () => {
    /* never answers */
  });
  const r = await auth.authenticate(bearer(OPAQUE));
  assert.equal(!r.ok && r.reason, 'introspection_unavailable');
  assert.deepEqual(outcomes, ['timeout']);
});

test('introspection network failure → introspection_unavailable', async (t) => {
  const { srv, auth, outcomes } = await setup(t);
  await srv.close();
  const r = await auth.authenticate(bearer(OPAQUE));
  assert.equal(!r.ok && r.reason, 'introspection_unavailable');
  assert.deepEqual(outcomes, ['network_error']);
});

test('active reply claims are validated', async (t) => {
  const { srv, auth, now } = await setup(t);
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ exp: undefined }, 'token_claims_invalid'],
    [{ exp: 'soon' }, 'token_claims_invalid'],
    [{ exp: now - 120 }, 'token_expired'],
    [{ nbf: now + 600 }, 'token_not_yet_valid'],
    [{ iss: 'https://evil.example' }, 'token_claims_invalid'],
    [{ aud: 'https://other.example' }, 'token_audience_mismatch'],
    [{ aud: 5 }, 'token_claims_invalid'],
    [{ scope: ['a'] }, 'token_claims_invalid'],
    [{ patient: 42 }, 'token_claims_invalid'],
    [{ client_id: false }, 'token_claims_invalid'],
  ];
  for (const [extra, reason] of cases) {
    srv.json('/introspect', active(now, extra));
    const r = await auth.authenticate(bearer(`${OPAQUE}${reason}${Object.keys(extra)[0]}`)); // distinct tokens: no cache hits
    assert.equal(!r.ok && r.reason, reason, JSON.stringify(extra));
  }
});

test('the client secret is re-read when its file changes', async (t) => {
  const { srv, auth, clock, secretFile, now } = await setup(t);
  srv.json('/introspect', active(now));
  await auth.authenticate(bearer('tok-a'));
  writeFileSync(secretFile, 'rotated-secret\n');
  clock.advance(5_000);
  await auth.authenticate(bearer('tok-b'));
  assert.equal(srv.requests[1]?.headers.authorization, basicAuth('fhirgate rs', 'rotated-secret'));
});

test('missing secret file → not ready, introspection_unavailable, nothing sent', async (t) => {
  const { srv, auth, outcomes } = await setup(t, { writeSecret: false });
  assert.equal(auth.ready(), false);
  const r = await auth.authenticate(bearer(OPAQUE));
  assert.equal(!r.ok && r.reason, 'introspection_unavailable');
  assert.equal(srv.requests.length, 0);
  assert.deepEqual(outcomes, ['no_secret']);
});
