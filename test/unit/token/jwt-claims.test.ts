/**
 * The registered-claim rules verifyJwt applies itself once jose has checked the signature
 * (checkRegisteredClaims): each rule and its edges, agreement with the rules jose's jwtVerify
 * applied before (jose's own claim validation, run through UnsecuredJWT.decode with the options
 * verifyJwt used to pass, is the oracle), and the edges end to end through the Authenticator.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UnsecuredJWT } from 'jose';
import { ManualClock } from '../../../src/core/clock.ts';
import type { ReasonCode } from '../../../src/core/reasons.ts';
import { Authenticator } from '../../../src/token/authenticator.ts';
import { reasonForJoseError } from '../../support/jose-errors.ts';
import { checkRegisteredClaims, checkTimes } from '../../../src/token/jwt.ts';
import { FakeIssuer, b64, b64json, bearer, makeKey, mint, signRaw } from './helpers.ts';
import type { TestKey } from './helpers.ts';

const ISS = 'https://issuer.example';
const AUD = 'https://fhir.example/r4';
const OTHER_AUD = 'https://fhir.example/other';
const cfg = { issuer: ISS, audiences: [AUD, OTHER_AUD], clockSkewSeconds: 30 };
const NOW = 1_767_225_600;
const base = { iss: ISS, aud: AUD, exp: NOW + 600 };
const check = (claims: Record<string, unknown>): ReasonCode | undefined => checkRegisteredClaims(claims, NOW, cfg);
const without = (name: string): Record<string, unknown> => {
  const c: Record<string, unknown> = { ...base };
  delete c[name];
  return c;
};

// ── each rule ─────────────────────────────────────────────────────────────────────────────────

test('iss, aud and exp are required', () => {
  assert.equal(check(base), undefined);
  assert.equal(check(without('iss')), 'token_claims_invalid');
  assert.equal(check(without('aud')), 'token_audience_mismatch');
  assert.equal(check(without('exp')), 'token_claims_invalid');
});

test('iss must be exactly the issuer identifier', () => {
  for (const iss of [`${ISS}/`, ISS.toUpperCase(), ` ${ISS}`, [ISS], null, 1]) {
    assert.equal(check({ ...base, iss }), 'token_issuer_unknown', JSON.stringify(iss));
  }
});

test('aud: a string naming one of our audiences, or an array with such a string', () => {
  assert.equal(check({ ...base, aud: OTHER_AUD }), undefined);
  assert.equal(check({ ...base, aud: ['https://a.example', AUD] }), undefined);
  // Other members' types are the Principal's business (token_claims_invalid there), as with jose.
  assert.equal(check({ ...base, aud: [7, AUD] }), undefined);
  for (const aud of ['https://a.example', `${AUD}/`, [], ['https://a.example'], [[AUD]], [7], null, 7, { [AUD]: true }, '']) {
    assert.equal(check({ ...base, aud }), 'token_audience_mismatch', JSON.stringify(aud));
  }
});

test('exp: a number, after now − skew (exp = now − skew is expired)', () => {
  assert.equal(check({ ...base, exp: NOW - 30 }), 'token_expired');
  assert.equal(check({ ...base, exp: NOW - 29 }), undefined);
  assert.equal(check({ ...base, exp: NOW - 29.5 }), undefined);
  assert.equal(check({ ...base, exp: -Infinity }), 'token_expired');
  for (const exp of [String(NOW + 600), null, true, [NOW + 600], { n: NOW }]) {
    assert.equal(check({ ...base, exp }), 'token_claims_invalid', JSON.stringify(exp));
  }
});

test('nbf: a number, not after now + skew (nbf = now + skew is valid)', () => {
  assert.equal(check({ ...base, nbf: NOW + 30 }), undefined);
  assert.equal(check({ ...base, nbf: NOW + 30.5 }), 'token_not_yet_valid');
  assert.equal(check({ ...base, nbf: NOW + 31 }), 'token_not_yet_valid');
  assert.equal(check({ ...base, nbf: NOW - 10_000 }), undefined);
  for (const nbf of ['yesterday', null, false, [NOW]]) assert.equal(check({ ...base, nbf }), 'token_claims_invalid', JSON.stringify(nbf));
});

test('iat must be a number when present (its future/lifetime rules are checkTimes)', () => {
  assert.equal(check({ ...base, iat: NOW }), undefined);
  for (const iat of ['now', null, {}]) assert.equal(check({ ...base, iat }), 'token_claims_invalid', JSON.stringify(iat));
});

test('non-finite times pass the type rule but not checkTimes', () => {
  const claims = { ...base, exp: Infinity };
  assert.equal(check(claims), undefined);
  assert.equal(checkTimes(claims, NOW, { clockSkewSeconds: 30, maxLifetimeSeconds: 3600 }), 'token_claims_invalid');
});

test('a claim set with several problems gets the reason jose gave first', () => {
  assert.equal(check({ aud: 'x' }), 'token_claims_invalid'); // iss missing is reported first
  assert.equal(check({ iss: ISS }), 'token_audience_mismatch'); // then aud, before exp
  assert.equal(check({ iss: 'x', aud: 'y', exp: 'z' }), 'token_issuer_unknown');
  assert.equal(check({ ...base, aud: 'y', exp: 'z' }), 'token_audience_mismatch');
  assert.equal(check({ ...base, nbf: NOW + 100, exp: NOW - 100 }), 'token_not_yet_valid');
  assert.equal(check({ ...base, iat: 'x', nbf: 'y' }), 'token_claims_invalid');
});

// ── agreement with jose's claim rules ─────────────────────────────────────────────────────────

/** What jose's jwtVerify said about these claims, with the options verifyJwt used to give it. */
function joseVerdict(claims: Record<string, unknown>, nowSeconds: number): ReasonCode | undefined {
  const token = `${b64json({ alg: 'none' })}.${b64json(claims)}.`;
  try {
    UnsecuredJWT.decode(token, {
      issuer: cfg.issuer,
      audience: [...cfg.audiences],
      clockTolerance: cfg.clockSkewSeconds,
      requiredClaims: ['exp'],
      currentDate: new Date(nowSeconds * 1000),
    });
    return undefined;
  } catch (err) {
    return reasonForJoseError(err);
  }
}

test('property: checkRegisteredClaims gives the verdict jose jwtVerify gave, on arbitrary claim sets', () => {
  const time = fc.oneof(
    fc.integer({ min: NOW - 100, max: NOW + 100 }),
    fc.double({ min: NOW - 100, max: NOW + 100, noNaN: true }),
    fc.integer(),
    fc.constantFrom('1767225600', null, true, [NOW], {}),
  );
  const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });
  const claims = fc.record(
    {
      iss: optional(fc.constantFrom(ISS, `${ISS}/`, 'https://evil.example', [ISS], 1, null)),
      aud: optional(
        fc.oneof(
          fc.constantFrom(AUD, OTHER_AUD, 'https://a.example', '', null, 7, {}),
          fc.array(fc.constantFrom<unknown>(AUD, OTHER_AUD, 'https://a.example', 7, null, [AUD]), { maxLength: 3 }),
        ),
      ),
      exp: optional(time),
      nbf: optional(time),
      iat: optional(time),
      sub: optional(fc.string({ maxLength: 5 })),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(claims, (c) => {
      const defined = Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined));
      assert.equal(checkRegisteredClaims(defined, NOW, cfg), joseVerdict(defined, NOW), JSON.stringify(defined));
    }),
    { numRuns: 3000 },
  );
});

// ── end to end, through the Authenticator ─────────────────────────────────────────────────────

let srv: FakeIssuer;
let ec: TestKey;
let clock: ManualClock;
let auth: Authenticator;
let now: number;

before(async () => {
  srv = await new FakeIssuer().listen();
  ec = await makeKey('ES256', 'ec-1');
  srv.jwks([ec]);
});

beforeEach(async () => {
  auth?.close();
  clock = new ManualClock();
  now = Math.floor(clock.now() / 1000);
  auth = new Authenticator(
    {
      cache: { maxEntries: 0 },
      issuers: [
        {
          issuer: srv.url,
          audiences: [AUD, OTHER_AUD],
          jwksUri: `${srv.url}/jwks`,
          algorithms: ['ES256'],
          allowInsecureLoopback: true,
          clockSkewSeconds: 30,
          maxLifetimeSeconds: 3600,
        },
      ],
    },
    { clock },
  );
  await auth.start();
});

after(async () => {
  auth.close();
  await srv.close();
});

const claimsE2e = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: srv.url,
  aud: AUD,
  sub: 'alice',
  iat: now,
  exp: now + 600,
  ...extra,
});

async function outcome(token: string): Promise<ReasonCode | 'ok'> {
  const r = await auth.authenticate(bearer(token));
  return r.ok ? 'ok' : r.reason;
}

test('end to end: aud as a string or an array naming any configured audience', async () => {
  assert.equal(await outcome(await mint(ec, claimsE2e({ aud: OTHER_AUD }))), 'ok');
  assert.equal(await outcome(await mint(ec, claimsE2e({ aud: ['https://a.example', OTHER_AUD] }))), 'ok');
  assert.equal(await outcome(await mint(ec, claimsE2e({ aud: [] }))), 'token_audience_mismatch');
  assert.equal(await outcome(await mint(ec, claimsE2e({ aud: { [AUD]: true } }))), 'token_audience_mismatch');
  assert.equal(await outcome(await mint(ec, claimsE2e({ aud: [AUD, 7] }))), 'token_claims_invalid');
});

test('end to end: nbf and exp at the exact skew boundaries', async () => {
  assert.equal(await outcome(await mint(ec, claimsE2e({ nbf: now + 30 }))), 'ok');
  assert.equal(await outcome(await mint(ec, claimsE2e({ nbf: now + 31 }))), 'token_not_yet_valid');
  assert.equal(await outcome(await mint(ec, claimsE2e({ iat: now - 600, exp: now - 30 }))), 'token_expired');
  assert.equal(await outcome(await mint(ec, claimsE2e({ iat: now - 600, exp: now - 29 }))), 'ok');
  // Sub-second clock: now is taken in whole seconds, as jose took it.
  clock.advance(999);
  assert.equal(await outcome(await mint(ec, claimsE2e({ nbf: now + 30 }))), 'ok');
  assert.equal(await outcome(await mint(ec, claimsE2e({ nbf: now + 30.5 }))), 'token_not_yet_valid');
  assert.equal(await outcome(await mint(ec, claimsE2e({ iat: now - 600, exp: now - 29.5 }))), 'ok');
  assert.equal(await outcome(await mint(ec, claimsE2e({ iat: now - 600, exp: now - 30 }))), 'token_expired');
});

test('end to end: exp of the wrong type, or out of range, is refused', async () => {
  for (const exp of [String(now + 600), null, [now + 600], true]) {
    assert.equal(await outcome(await mint(ec, claimsE2e({ exp }))), 'token_claims_invalid', JSON.stringify(exp));
  }
  // 1e400 parses as Infinity: a number, so past the type rule, but never a valid lifetime.
  const text = JSON.stringify(claimsE2e()).replace(`"exp":${now + 600}`, '"exp":1e400');
  assert.ok(text.includes('1e400'));
  assert.equal(await outcome(await signRaw(ec, b64json({ alg: 'ES256', kid: 'ec-1' }), b64(text))), 'token_claims_invalid');
});

test('end to end: iss must match the pinned issuer exactly (case, trailing slash)', async () => {
  assert.equal(await outcome(await mint(ec, claimsE2e({ iss: srv.url.toUpperCase() }))), 'token_issuer_unknown');
  assert.equal(await outcome(await mint(ec, claimsE2e({ iss: `${srv.url}/` }))), 'token_issuer_unknown');
});
