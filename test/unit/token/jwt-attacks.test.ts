/**
 * The token attack matrix (issue 2, item 10), one named test per attack, run through the
 * Authenticator facade against a real issuer on 127.0.0.1 whose requests are counted.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import fc from 'fast-check';
import { ManualClock } from '../../../src/core/clock.ts';
import type { ReasonCode } from '../../../src/core/reasons.ts';
import { Authenticator } from '../../../src/token/authenticator.ts';
import type { AuthnResult } from '../../../src/token/authenticator.ts';
import { FakeIssuer, b64, b64json, bearer, makeKey, mint, request, signRaw } from './helpers.ts';
import type { TestKey } from './helpers.ts';

const AUD = 'https://fhir.example/r4';
let srv: FakeIssuer;
let clock: ManualClock;
let auth: Authenticator;
let rsa: TestKey;
let ec: TestKey;
let ps: TestKey;
let ed: TestKey;
let now: number;

before(async () => {
  srv = await new FakeIssuer().listen();
  [rsa, ec, ps, ed] = await Promise.all([makeKey('RS256', 'rsa-1'), makeKey('ES256', 'ec-1'), makeKey('PS256', 'ps-1'), makeKey('EdDSA', 'ed-1')]);
  srv.json('/.well-known/openid-configuration', { issuer: srv.url, jwks_uri: `${srv.url}/jwks` });
  srv.jwks([rsa, ec, ps, ed]);
});

beforeEach(async () => {
  auth?.close();
  clock = new ManualClock();
  now = Math.floor(clock.now() / 1000);
  auth = new Authenticator(
    {
      cache: { maxEntries: 0 }, // every test verifies for real
      issuers: [
        {
          issuer: srv.url,
          audiences: [AUD],
          algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'],
          allowInsecureLoopback: true,
          allowedTyp: ['at+jwt', 'JWT'],
          clockSkewSeconds: 30,
          maxLifetimeSeconds: 3600,
        },
      ],
    },
    { clock },
  );
  await auth.start();
  assert.equal(auth.ready(), true);
});

after(async () => {
  auth.close();
  await srv.close();
});

const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: srv.url,
  aud: AUD,
  sub: 'alice',
  client_id: 'app',
  scope: 'patient/*.rs',
  iat: now,
  exp: now + 600,
  jti: 'jti-1',
  ...extra,
});

async function check(token: string): Promise<AuthnResult> {
  return auth.authenticate(bearer(token));
}
async function denied(token: string, reason: ReasonCode): Promise<void> {
  const r = await check(token);
  assert.equal(r.ok, false, 'token must be refused');
  assert.equal(!r.ok && r.reason, reason);
}
const jwksFetches = (): number => srv.count('/jwks');

// ── baseline ──────────────────────────────────────────────────────────────────────────────────

test('accepts valid RS256, ES256, PS256 and EdDSA tokens', async () => {
  for (const k of [rsa, ec, ps, ed]) {
    const r = await check(await mint(k, claims()));
    assert.equal(r.ok, true, k.alg);
    assert.equal(r.ok && r.principal.subject, 'alice');
    assert.deepEqual(r.ok && r.principal.scopes, ['patient/*.rs']);
  }
});

// ── algorithm attacks ─────────────────────────────────────────────────────────────────────────

for (const alg of ['none', 'None', 'NONE', 'nOnE', 'nonE']) {
  test(`rejects alg "${alg}" (RFC 8725 §3.1)`, async () => {
    const h = b64json({ alg, typ: 'JWT' });
    const p = b64json(claims());
    await denied(`${h}.${p}.${b64('x')}`, 'token_header_rejected');
    await denied(`${h}.${p}.`, 'token_malformed'); // the classic unsigned form
  });
}

test('rejects HS256 signed with the RSA public key PEM as the HMAC secret (key confusion)', async () => {
  const { publicKey } = await generateKeyPair('RS256', { extractable: true });
  for (const secret of [await exportSPKI(publicKey), JSON.stringify(rsa.publicJwk), JSON.stringify(await exportJWK(publicKey))]) {
    const t = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
    await denied(t, 'token_header_rejected');
  }
});

test('rejects an algorithm outside the issuer allowlist (RS384 from a trusted key)', async () => {
  const k = await makeKey('RS384', 'rsa-1');
  await denied(await mint(k, claims()), 'token_header_rejected');
});

test('rejects a token signed with ES256 but naming an RSA key id (kid/alg mismatch)', async () => {
  const before = jwksFetches();
  await denied(await mint({ ...ec, kid: 'rsa-1' }, claims()), 'token_signature_invalid');
  assert.equal(jwksFetches(), before);
});

// ── signature attacks ─────────────────────────────────────────────────────────────────────────

test('rejects a null (empty) signature', async () => {
  const [h, p] = (await mint(rsa, claims())).split('.');
  await denied(`${h}.${p}.`, 'token_malformed');
});

test('rejects an all-zero RSA signature', async () => {
  const [h, p] = (await mint(rsa, claims())).split('.');
  await denied(`${h}.${p}.${b64(new Uint8Array(256))}`, 'token_signature_invalid');
});

test('rejects ECDSA signature with r = s = 0 (CVE-2022-21449 "psychic signature")', async () => {
  const [h, p] = (await mint(ec, claims())).split('.');
  await denied(`${h}.${p}.${b64(new Uint8Array(64))}`, 'token_signature_invalid');
});

test('rejects a signature from an untrusted key that reuses a trusted kid', async () => {
  const impostor = await makeKey('ES256', 'ec-1');
  await denied(await mint(impostor, claims()), 'token_signature_invalid');
});

test('rejects a tampered payload (signature over the original claims)', async () => {
  const [h, , s] = (await mint(rsa, claims())).split('.');
  await denied(`${h}.${b64json(claims({ sub: 'admin' }))}.${s}`, 'token_signature_invalid');
});

// ── header parameters that carry or point at keys ─────────────────────────────────────────────

test('rejects an embedded "jwk" header (attacker key, attacker signature)', async () => {
  const attacker = await makeKey('ES256', 'evil');
  const t = await mint(attacker, claims(), { jwk: attacker.publicJwk });
  await denied(t, 'token_header_rejected');
});

for (const name of ['jku', 'x5u'] as const) {
  test(`rejects a "${name}" header and never fetches it`, async () => {
    const attacker = await makeKey('ES256', 'evil');
    srv.jwks([attacker], '/attacker-keys');
    const t = await mint(attacker, claims(), { [name]: `${srv.url}/attacker-keys` });
    await denied(t, 'token_header_rejected');
    assert.equal(srv.count('/attacker-keys'), 0);
  });
}

test('rejects an "x5c" header', async () => {
  await denied(await mint(ec, claims(), { x5c: ['MIIB'] }), 'token_header_rejected');
});

// ── kid injection ─────────────────────────────────────────────────────────────────────────────

for (const kid of ['../../etc/passwd', "' OR '1'='1", 'k"; DROP TABLE keys; --', 'a'.repeat(2000), '', 'k\u0000', 'kid with spaces', '${jndi:ldap://x}']) {
  test(`rejects kid injection string ${JSON.stringify(kid.length > 40 ? `${kid.slice(0, 20)}…(${kid.length})` : kid)}`, async () => {
    const before = jwksFetches();
    await denied(await mint({ ...ec, kid }, claims()), 'token_header_rejected');
    assert.equal(jwksFetches(), before, 'no key fetch for a refused kid');
  });
}

for (const kid of [7, null, true, ['ec-1'], { a: 1 }]) {
  test(`rejects non-string kid ${JSON.stringify(kid)}`, async () => {
    const h = b64json({ alg: 'ES256', kid, typ: 'JWT' });
    await denied(await signRaw(ec, h, b64json(claims())), 'token_header_rejected');
  });
}

// ── structure ─────────────────────────────────────────────────────────────────────────────────

test('rejects missing and extra segments', async () => {
  const t = await mint(ec, claims());
  const [h, p, s] = t.split('.');
  await denied(`${h}.${p}`, 'token_malformed');
  // no '.' at all: an opaque token, and this issuer has no introspection
  await denied(`${h}`, 'token_issuer_unknown');
  await denied(`${t}.${s}`, 'token_malformed');
  await denied(`${t}.${s}.${s}.${s}`, 'token_malformed');
  await denied(`.${p}.${s}`, 'token_malformed');
});

test('rejects invalid UTF-8 in the header', async () => {
  const h = b64(Buffer.concat([Buffer.from('{"alg":"ES256","kid":"ec-1","x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]));
  await denied(await signRaw(ec, h, b64json(claims())), 'token_malformed');
});

test('rejects invalid UTF-8 in the payload', async () => {
  const body = JSON.stringify(claims()).replace('"alice"', '"al\u0001ce"');
  const bytes = Buffer.from(body);
  bytes[bytes.indexOf(0x01)] = 0xc0; // start of an overlong sequence
  await denied(await signRaw(ec, b64json({ alg: 'ES256', kid: 'ec-1', typ: 'JWT' }), b64(bytes)), 'token_malformed');
});

test('rejects duplicate claim names in the payload, even correctly signed', async () => {
  const json = JSON.stringify(claims()).replace('"sub":"alice"', '"sub":"alice","sub":"admin"');
  await denied(await signRaw(ec, b64json({ alg: 'ES256', kid: 'ec-1', typ: 'JWT' }), b64(json)), 'token_malformed');
});

test('rejects duplicate member names in the header', async () => {
  const h = b64('{"alg":"ES256","kid":"ec-1","alg":"none"}');
  await denied(await signRaw(ec, h, b64json(claims())), 'token_malformed');
});

test('rejects an unknown "crit" header', async () => {
  const h = b64json({ alg: 'ES256', kid: 'ec-1', typ: 'JWT', crit: ['urn:example:unknown'], 'urn:example:unknown': true });
  await denied(await signRaw(ec, h, b64json(claims())), 'token_header_rejected');
});

test('rejects JWE (5 segments) and nested JWTs (cty)', async () => {
  await denied(`${b64json({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.${b64('k')}.${b64('iv')}.${b64('ct')}.${b64('tag')}`, 'token_header_rejected');
  const inner = await mint(ec, claims());
  await denied(await signRaw(ec, b64json({ alg: 'ES256', kid: 'ec-1', cty: 'JWT' }), b64(inner)), 'token_header_rejected');
});

test('rejects oversized tokens before parsing', async () => {
  const before = jwksFetches();
  await denied(await mint(ec, claims({ pad: 'x'.repeat(9000) })), 'token_too_large');
  assert.equal(jwksFetches(), before);
});

test('rejects a wrong "typ" (e.g. an ID token or a DPoP proof)', async () => {
  for (const typ of ['dpop+jwt', 'id_token+jwt', 'JOSE']) await denied(await mint(ec, claims(), { typ }), 'token_header_rejected');
  await denied(await signRaw(ec, b64json({ alg: 'ES256', kid: 'ec-1' }), b64json(claims())), 'token_header_rejected');
});

test('a payload that is not a JSON object is malformed', async () => {
  for (const body of ['[]', '"x"', '1', 'not json']) {
    await denied(await signRaw(ec, b64json({ alg: 'ES256', kid: 'ec-1', typ: 'JWT' }), b64(body)), 'token_malformed');
  }
});

// ── time ──────────────────────────────────────────────────────────────────────────────────────

test('rejects a token expired beyond the clock skew; accepts one inside it', async () => {
  const t = await mint(ec, claims({ iat: now - 600, exp: now - 31 }));
  await denied(t, 'token_expired');
  assert.equal((await check(await mint(ec, claims({ iat: now - 600, exp: now - 29 })))).ok, true);
  const fresh = await mint(ec, claims());
  clock.advance(631_000);
  await denied(fresh, 'token_expired');
});

test('rejects a token not yet valid beyond the clock skew (nbf)', async () => {
  await denied(await mint(ec, claims({ nbf: now + 31 })), 'token_not_yet_valid');
  assert.equal((await check(await mint(ec, claims({ nbf: now + 29 })))).ok, true);
});

test('rejects iat in the future beyond the clock skew', async () => {
  await denied(await mint(ec, claims({ iat: now + 120, exp: now + 600 })), 'token_not_yet_valid');
});

test('rejects a token without exp', async () => {
  const c = claims();
  delete c['exp'];
  await denied(await mint(ec, c), 'token_claims_invalid');
});

test('rejects non-numeric exp, nbf and iat', async () => {
  await denied(await mint(ec, claims({ exp: String(now + 600) })), 'token_claims_invalid');
  await denied(await mint(ec, claims({ nbf: 'yesterday' })), 'token_claims_invalid');
  await denied(await mint(ec, claims({ iat: 'now' })), 'token_claims_invalid');
});

test('rejects a lifetime over the cap, measured from iat, nbf or now', async () => {
  await denied(await mint(ec, claims({ iat: now, exp: now + 3601 })), 'token_lifetime_exceeded');
  await denied(await mint(ec, claims({ iat: now - 7200, exp: now + 60 })), 'token_lifetime_exceeded');
  const noIat = claims({ exp: now + 5000 });
  delete noIat['iat'];
  await denied(await mint(ec, noIat), 'token_lifetime_exceeded');
  assert.equal((await check(await mint(ec, claims({ iat: now, exp: now + 3600 })))).ok, true);
});

// ── issuer and audience ───────────────────────────────────────────────────────────────────────

test('rejects an unknown issuer without fetching anything', async () => {
  const before = srv.requests.length;
  await denied(await mint(ec, claims({ iss: 'https://evil.example' })), 'token_issuer_unknown');
  await denied(await mint(ec, claims({ iss: `${srv.url}/` })), 'token_issuer_unknown'); // exact match only
  await denied(await mint(ec, claims({ iss: 'constructor' })), 'token_issuer_unknown');
  assert.equal(srv.requests.length, before);
});

test('rejects a missing or non-string iss', async () => {
  await denied(await mint(ec, claims({ iss: undefined })), 'token_claims_invalid');
  await denied(await mint(ec, claims({ iss: [srv.url] })), 'token_claims_invalid');
});

test('rejects an aud mismatch, accepts aud arrays that name us', async () => {
  await denied(await mint(ec, claims({ aud: 'https://other.example' })), 'token_audience_mismatch');
  await denied(await mint(ec, claims({ aud: ['https://a.example', 'https://b.example'] })), 'token_audience_mismatch');
  await denied(await mint(ec, claims({ aud: undefined })), 'token_audience_mismatch');
  const ok = await check(await mint(ec, claims({ aud: ['https://other.example', AUD] })));
  assert.equal(ok.ok, true);
  assert.deepEqual(ok.ok && ok.principal.audience, ['https://other.example', AUD]);
});

// ── presentation ──────────────────────────────────────────────────────────────────────────────

test('rejects two credentials (duplicate header, header + query)', async () => {
  const t = await mint(ec, claims());
  const dup = await auth.authenticate(request({ authorization: `Bearer ${t}`, duplicates: ['authorization'] }));
  assert.deepEqual(dup, { ok: false, reason: 'credential_multiple' });
  const q = await auth.authenticate(request({ authorization: `Bearer ${t}`, rawQuery: `access_token=${t}` }));
  assert.deepEqual(q, { ok: false, reason: 'credential_multiple' });
});

test('rejects a malformed scheme', async () => {
  const t = await mint(ec, claims());
  for (const authorization of [`Basic ${t}`, `Bearer: ${t}`, `${t}`, `Bearer  ${t}`]) {
    assert.deepEqual(await auth.authenticate(request({ authorization })), { ok: false, reason: 'credential_malformed' });
  }
});

// ── unknown kid flood ─────────────────────────────────────────────────────────────────────────

test('unknown-kid flood → bounded JWKS fetches', async () => {
  const before = jwksFetches();
  const tokens = await Promise.all(Array.from({ length: 200 }, (_, i) => mint({ ...ec, kid: `flood-${i}` }, claims())));
  const results = await Promise.all(tokens.map(check));
  assert.ok(results.every((r) => !r.ok && r.reason === 'token_signature_invalid'));
  assert.equal(jwksFetches() - before, 1);
});

// ── properties ────────────────────────────────────────────────────────────────────────────────

test('property: arbitrary Authorization headers never throw and never authenticate', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ maxLength: 300 }).map((s) => `Bearer ${s}`), fc.uint8Array({ maxLength: 300 }).map((b) => `Bearer ${Buffer.from(b).toString('latin1')}`)), async (value) => {
      const r = await auth.authenticate(request({ authorization: value }));
      assert.equal(r.ok, false);
    }),
    { numRuns: 300 },
  );
});

test('property: arbitrary tokens (JWT-shaped bytes) never authenticate', async () => {
  const seg = fc.uint8Array({ maxLength: 120 }).map((b) => b64(b));
  await fc.assert(
    fc.asyncProperty(fc.array(seg, { minLength: 1, maxLength: 6 }), async (segs) => {
      const r = await check(segs.join('.'));
      assert.equal(r.ok, false);
    }),
    { numRuns: 300 },
  );
});

test('property: random mutations of a valid token never authenticate', async () => {
  const valid = await mint(ec, claims());
  assert.equal((await check(valid)).ok, true);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('replace' as const), at: fc.nat(valid.length - 1), ch: fc.constantFrom(...alphabet) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(valid.length - 1), ch: fc.constant('') }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(valid.length), ch: fc.constantFrom(...alphabet) }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (muts) => {
      let t = valid;
      for (const m of muts) {
        const at = Math.min(m.at, t.length - (m.kind === 'insert' ? 0 : 1));
        if (m.kind === 'replace') t = t.slice(0, at) + m.ch + t.slice(at + 1);
        else if (m.kind === 'delete') t = t.slice(0, at) + t.slice(at + 1);
        else t = t.slice(0, at) + m.ch + t.slice(at);
      }
      fc.pre(t !== valid);
      const r = await check(t);
      assert.equal(r.ok, false, `mutated token accepted: ${JSON.stringify(muts)}`);
    }),
    { numRuns: 400 },
  );
});
