/**
 * signature.ts verifies with node:crypto directly; jose's compactVerify (WebCrypto) is the
 * reference it replaced. These tests hold it to jose on valid and tampered tokens of every
 * algorithm a key can be imported for, to jose's refusals of keys, and to the one rule it adds
 * (RSA signatures exactly as long as the modulus).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { CompactSign, compactVerify, exportJWK, generateKeyPair, importJWK, jwtVerify } from 'jose';
import type { CryptoKey } from 'jose';
import fc from 'fast-check';
import { Authenticator } from '../../../src/token/authenticator.ts';
import { parseKeySet } from '../../../src/token/jwk-set.ts';
import { MIN_RSA_BITS, jwsKey, verifyJws } from '../../../src/token/signature.ts';
import type { JwsKey } from '../../../src/token/signature.ts';
import { FakeIssuer, b64, b64json, bearer } from './helpers.ts';

const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;
const ALL_ALGS = [...RSA_ALGS, 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
type Alg = (typeof ALL_ALGS)[number];

/** A node:crypto key pair of the kind an algorithm needs. */
function pairFor(alg: Alg): { privateKey: KeyObject; publicKey: KeyObject } {
  if (alg.startsWith('RS') || alg.startsWith('PS')) return generateKeyPairSync('rsa', { modulusLength: 2048 });
  if (alg === 'ES256') return generateKeyPairSync('ec', { namedCurve: 'P-256' });
  if (alg === 'ES384') return generateKeyPairSync('ec', { namedCurve: 'P-384' });
  if (alg === 'ES512') return generateKeyPairSync('ec', { namedCurve: 'P-521' });
  return generateKeyPairSync('ed25519');
}

/** The public key as the key store gets it: the JWK imported by jose for one algorithm. */
async function imported(publicKey: KeyObject, alg: string): Promise<CryptoKey> {
  const key = await importJWK(await exportJWK(publicKey), alg);
  assert.ok(!(key instanceof Uint8Array));
  return key;
}

interface Fixture {
  readonly alg: Alg;
  readonly privateKey: KeyObject;
  /** Another key of the same kind, to sign with when the signer is the wrong one. */
  readonly otherPrivateKey: KeyObject;
  readonly key: JwsKey;
}

// One RSA pair serves every RSA algorithm, as one RSA JWK without `alg` does in a key set.
const rsaPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaOther = generateKeyPairSync('rsa', { modulusLength: 2048 });
const fixtures = new Map<Alg, Fixture>();
for (const alg of ALL_ALGS) {
  const isRsa = (RSA_ALGS as readonly string[]).includes(alg);
  const pair = isRsa ? rsaPair : pairFor(alg);
  const other = isRsa ? rsaOther : pairFor(alg);
  const key = jwsKey(alg, await imported(pair.publicKey, alg));
  assert.ok(key !== undefined, alg);
  fixtures.set(alg, { alg, privateKey: pair.privateKey, otherPrivateKey: other.privateKey, key });
}
const fixture = (alg: Alg): Fixture => fixtures.get(alg) as Fixture;

async function signJws(alg: string, privateKey: KeyObject, payload: Uint8Array, header: Record<string, unknown> = {}): Promise<string> {
  return new CompactSign(payload).setProtectedHeader({ alg, ...header }).sign(privateKey);
}

/** An RS256 JWS signed with node:crypto, for keys jose will not sign with. */
function signRs256(privateKey: KeyObject, header: Record<string, unknown>, payload: Uint8Array): string {
  const input = `${b64json({ alg: 'RS256', ...header })}.${b64(payload)}`;
  return `${input}.${b64(sign('sha256', Buffer.from(input), privateKey))}`;
}

/** Our verdict on a compact JWS, as verifyJwt reaches it: header alg, signing input, signature bytes. */
function ours(key: JwsKey, token: string): boolean {
  const [h, p, s] = token.split('.') as [string, string, string];
  const alg = (JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg: string }).alg;
  return verifyJws(key, alg, Buffer.from(`${h}.${p}`, 'latin1'), Buffer.from(s, 'base64url'));
}

/** jose's verdict, with the allowlist verifyJwt gave it: the one algorithm the key is for. */
async function joses(key: JwsKey, token: string): Promise<boolean> {
  return compactVerify(token, key.cryptoKey, { algorithms: [key.alg] }).then(
    () => true,
    () => false,
  );
}

const withSignature = (token: string, sig: Uint8Array): string => `${token.slice(0, token.lastIndexOf('.') + 1)}${b64(sig)}`;
const signatureOf = (token: string): Buffer => Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url');

type Mutation =
  | { readonly kind: 'none' }
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'truncate'; readonly n: number; readonly front: boolean }
  | { readonly kind: 'extend'; readonly bytes: Uint8Array; readonly front: boolean }
  | { readonly kind: 'random'; readonly bytes: Uint8Array; readonly sameLength: boolean }
  | { readonly kind: 'zero'; readonly sameLength: boolean }
  | { readonly kind: 'payload'; readonly payload: Uint8Array }
  | { readonly kind: 'header'; readonly extra: string }
  | { readonly kind: 'otherKey' }
  | { readonly kind: 'otherAlg'; readonly alg: Alg };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  fc.record({ kind: fc.constant('truncate' as const), n: fc.integer({ min: 1, max: 4 }), front: fc.boolean() }),
  fc.record({ kind: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 3 }), front: fc.boolean() }),
  fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ minLength: 0, maxLength: 520 }), sameLength: fc.boolean() }),
  fc.record({ kind: fc.constant('zero' as const), sameLength: fc.boolean() }),
  fc.record({ kind: fc.constant('payload' as const), payload: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ kind: fc.constant('header' as const), extra: fc.string({ maxLength: 8 }) }),
  fc.constant({ kind: 'otherKey' as const }),
  fc.record({ kind: fc.constant('otherAlg' as const), alg: fc.constantFrom(...ALL_ALGS) }),
);

/** A token for `f` with one mutation applied; every segment stays canonical base64url. */
async function mutated(f: Fixture, payload: Uint8Array, m: Mutation): Promise<string> {
  const valid = await signJws(f.alg, f.privateKey, payload);
  const sig = signatureOf(valid);
  switch (m.kind) {
    case 'none':
      return valid;
    case 'flip': {
      const at = m.at % sig.length;
      const s = Buffer.from(sig);
      s[at] = (s[at] as number) ^ (1 << m.bit);
      return withSignature(valid, s);
    }
    case 'truncate':
      return withSignature(valid, m.front ? sig.subarray(m.n) : sig.subarray(0, sig.length - m.n));
    case 'extend':
      return withSignature(valid, m.front ? Buffer.concat([m.bytes, sig]) : Buffer.concat([sig, m.bytes]));
    case 'random':
      return withSignature(valid, m.sameLength ? Buffer.concat([m.bytes, Buffer.alloc(sig.length)]).subarray(0, sig.length) : m.bytes);
    case 'zero':
      return withSignature(valid, new Uint8Array(m.sameLength ? sig.length : sig.length - 1));
    case 'payload': {
      const [h, , s] = valid.split('.');
      return `${h}.${b64(m.payload)}.${s}`;
    }
    case 'header': {
      const [, p, s] = valid.split('.');
      return `${b64json({ alg: f.alg, x: m.extra })}.${p}.${s}`;
    }
    case 'otherKey':
      return signJws(f.alg, f.otherPrivateKey, payload);
    case 'otherAlg': {
      // Signed by the right private key where it can sign that algorithm (RS256 → PS512), else
      // by the other algorithm's own key; the header names the other algorithm either way.
      const o = fixture(m.alg);
      const sameKind = (RSA_ALGS as readonly string[]).includes(m.alg) && (RSA_ALGS as readonly string[]).includes(f.alg);
      return signJws(m.alg, sameKind ? f.privateKey : o.privateKey, payload);
    }
  }
}

for (const alg of ALL_ALGS) {
  test(`property: ${alg} verification agrees with jose compactVerify on valid and tampered tokens`, async () => {
    const f = fixture(alg);
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), mutation, async (payload, m) => {
        const token = await mutated(f, payload, m);
        const mine = ours(f.key, token);
        const reference = await joses(f.key, token);
        if (mine) accepted++;
        if (m.kind === 'none') assert.equal(mine, true, 'a valid token verifies');
        // Equal verdicts, but for the one documented difference: an RSA-PSS signature shorter
        // than the modulus, which OpenSSL (so jose) can accept and RFC 8017 does not.
        const shortPss = alg.startsWith('PS') && signatureOf(token).length < f.key.signatureBytes;
        if (!(shortPss && reference && !mine)) assert.equal(mine, reference, `${alg} ${JSON.stringify(m)}`);
      }),
      { numRuns: 150 },
    );
    assert.ok(accepted > 0, 'some runs were valid tokens');
  });
}

test('an RSA-PSS signature with its leading zero byte dropped: jose accepts it, we refuse it (RFC 8017 §8.1.2)', async () => {
  const f = fixture('PS256');
  const header = b64json({ alg: 'PS256' });
  // PSS is randomized: about one signature in 256 starts with a zero byte. 4000 tries miss it
  // with probability (255/256)^4000 < 2e-7.
  for (let i = 0; i < 4000; i++) {
    const input = `${header}.${b64(`payload ${i}`)}`;
    const sig = sign('sha256', Buffer.from(input), { key: f.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    if (sig[0] !== 0) continue;
    const full = `${input}.${b64(sig)}`;
    const short = `${input}.${b64(sig.subarray(1))}`;
    assert.equal(ours(f.key, full), true);
    assert.equal(await joses(f.key, full), true);
    assert.equal(await joses(f.key, short), true, 'OpenSSL takes the short spelling');
    assert.equal(ours(f.key, short), false, 'a second spelling of a signed token is refused');
    return;
  }
  assert.fail('no PSS signature with a leading zero byte in 4000 tries');
});

test('RSA-PSS signatures with any salt length but the hash length are refused, as jose refuses them (RFC 7518 §3.5)', async () => {
  for (const [alg, digest, hashBytes] of [
    ['PS256', 'sha256', 32],
    ['PS384', 'sha384', 48],
    ['PS512', 'sha512', 64],
  ] as const) {
    const f = fixture(alg);
    const input = `${b64json({ alg })}.${b64('claims')}`;
    for (const saltLength of [0, 20, hashBytes - 1, hashBytes, hashBytes + 1, constants.RSA_PSS_SALTLEN_MAX_SIGN]) {
      const sig = sign(digest, Buffer.from(input), { key: f.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
      const token = `${input}.${b64(sig)}`;
      const expected = saltLength === hashBytes;
      assert.equal(ours(f.key, token), expected, `${alg} salt ${saltLength}`);
      assert.equal(await joses(f.key, token), expected, `${alg} salt ${saltLength} (jose)`);
    }
  }
});

test('ECDSA signatures that are zero or the curve order are refused, as jose refuses them (CVE-2022-21449)', async () => {
  const order: Record<string, string> = {
    ES256: 'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551',
    ES384: 'ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973',
    ES512: '01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409',
  };
  for (const alg of ['ES256', 'ES384', 'ES512'] as const) {
    const f = fixture(alg);
    const valid = await signJws(alg, f.privateKey, Buffer.from('claims'));
    const half = f.key.signatureBytes / 2;
    const n = Buffer.from(order[alg] as string, 'hex');
    assert.equal(n.length, half, alg);
    const one = Buffer.alloc(half);
    one[half - 1] = 1;
    for (const [name, sig] of [
      ['r = s = 0', Buffer.alloc(2 * half)],
      ['r = s = n', Buffer.concat([n, n])],
      ['r = 0, s = 1', Buffer.concat([Buffer.alloc(half), one])],
      ['r = 1, s = 0', Buffer.concat([one, Buffer.alloc(half)])],
      ['all ones', Buffer.alloc(2 * half, 0xff)],
    ] as const) {
      const t = withSignature(valid, sig);
      assert.equal(ours(f.key, t), false, `${alg} ${name}`);
      assert.equal(await joses(f.key, t), false, `${alg} ${name} (jose)`);
    }
  }
});

test('a key verifies only the algorithm it was imported for, whatever the header says', async () => {
  const rs = fixture('RS256');
  const psToken = await signJws('PS256', rs.privateKey, Buffer.from('x'));
  const psInput = Buffer.from(psToken.slice(0, psToken.lastIndexOf('.')), 'latin1');
  // The RS256 key with a PS256 token, even told the token is PS256: refused, as jose refuses it.
  assert.equal(verifyJws(rs.key, 'PS256', psInput, signatureOf(psToken)), false);
  assert.equal(await joses(rs.key, psToken), false);
  assert.equal(verifyJws(fixture('PS256').key, 'PS256', psInput, signatureOf(psToken)), true);
  // A valid RS256 signature presented under another name.
  const rsToken = await signJws('RS256', rs.privateKey, Buffer.from('x'));
  const rsInput = Buffer.from(rsToken.slice(0, rsToken.lastIndexOf('.')), 'latin1');
  for (const alg of ['RS384', 'PS256', 'HS256', 'none', '']) assert.equal(verifyJws(rs.key, alg, rsInput, signatureOf(rsToken)), false, alg);
  assert.equal(verifyJws(rs.key, 'RS256', rsInput, signatureOf(rsToken)), true);
});

test('keys jose would refuse to verify with are refused when imported', async () => {
  const rsaJwk = await exportJWK(rsaPair.publicKey);
  const ecJwk = await exportJWK(fixture('ES256').privateKey);
  const { d: _d, ...ecPublicJwk } = ecJwk;
  const p384Jwk = await exportJWK(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey);
  const rs256 = (await importJWK(rsaJwk, 'RS256')) as CryptoKey;
  const es256 = (await importJWK(ecPublicJwk, 'ES256')) as CryptoKey;
  const es384 = (await importJWK(p384Jwk, 'ES384')) as CryptoKey;
  // Imported for another algorithm (jose: "CryptoKey does not support this operation").
  assert.equal(jwsKey('PS256', rs256), undefined);
  assert.equal(jwsKey('RS384', rs256), undefined);
  assert.equal(jwsKey('ES384', es256), undefined);
  assert.equal(jwsKey('ES256', es384), undefined);
  assert.equal(jwsKey('EdDSA', es256), undefined);
  // No entry for symmetric, unsigned or unknown algorithms, nor for prototype names.
  for (const alg of ['HS256', 'HS512', 'none', 'RS1', 'ES256K', 'ML-DSA-44', '__proto__', 'constructor', 'toString']) {
    assert.equal(jwsKey(alg, rs256), undefined, alg);
  }
  // A private key (jose: must be of type "public").
  const ecPrivate = (await importJWK(ecJwk, 'ES256')) as CryptoKey;
  assert.equal(ecPrivate.type, 'private');
  assert.equal(jwsKey('ES256', ecPrivate), undefined);
  // A public key whose usages do not include verify.
  const noUsages = await crypto.subtle.importKey('jwk', ecPublicJwk, { name: 'ECDSA', namedCurve: 'P-256' }, true, []);
  assert.equal(noUsages.type, 'public');
  assert.equal(jwsKey('ES256', noUsages), undefined);
  const token = await signJws('ES256', fixture('ES256').privateKey, Buffer.from('x'));
  await assert.rejects(compactVerify(token, noUsages, { algorithms: ['ES256'] }), /usages/);
  // The keys it accepts say what they verify.
  assert.equal(jwsKey('RS256', rs256)?.signatureBytes, 256);
  assert.equal(jwsKey('ES256', es256)?.signatureBytes, 64);
});

test(`RSA keys under ${MIN_RSA_BITS} bits: jose refuses to verify with them; they are skipped when imported`, async () => {
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const jwk = { ...(await exportJWK(weak.publicKey)), kid: 'weak', alg: 'RS256', use: 'sig' };
  const cryptoKey = (await importJWK(jwk, 'RS256')) as CryptoKey;
  const token = signRs256(weak.privateKey, {}, Buffer.from('x'));
  await assert.rejects(compactVerify(token, cryptoKey, { algorithms: ['RS256'] }), /modulusLength/);
  assert.equal(jwsKey('RS256', cryptoKey), undefined);
  const set = await parseKeySet(new TextEncoder().encode(JSON.stringify({ keys: [jwk] })), ['RS256']);
  assert.deepEqual(set, { ok: true, keys: [], ignored: 1 });
  // 2048 bits is enough.
  assert.ok(jwsKey('RS256', await imported(rsaPair.publicKey, 'RS256')));
});

test('end to end: a token signed by a weak RSA key in the issuer JWKS is refused as a bad signature', async (t) => {
  const srv = await new FakeIssuer().listen();
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const strong = await generateKeyPair('RS256', { extractable: true });
  srv.json('/jwks', {
    keys: [
      { ...(await exportJWK(weak.publicKey)), kid: 'weak', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(strong.publicKey)), kid: 'strong', alg: 'RS256', use: 'sig' },
    ],
  });
  const auth = new Authenticator({
    cache: { maxEntries: 0 },
    issuers: [{ issuer: srv.url, audiences: ['aud'], jwksUri: `${srv.url}/jwks`, algorithms: ['RS256'], allowInsecureLoopback: true }],
  });
  t.after(async () => {
    auth.close();
    await srv.close();
  });
  await auth.start();
  const now = Math.floor(Date.now() / 1000);
  const claims = new TextEncoder().encode(JSON.stringify({ iss: srv.url, aud: 'aud', sub: 'alice', iat: now, exp: now + 300 }));
  const weakToken = signRs256(weak.privateKey, { kid: 'weak' }, claims);
  const strongToken = await new CompactSign(claims).setProtectedHeader({ alg: 'RS256', kid: 'strong' }).sign(strong.privateKey);
  assert.deepEqual(await auth.authenticate(bearer(weakToken)), { ok: false, reason: 'token_signature_invalid' });
  const ok = await auth.authenticate(bearer(strongToken));
  assert.ok(ok.ok && ok.principal.subject === 'alice');
});

test('verifyJws never throws, whatever the bytes', () => {
  const f = fixture('ES256');
  fc.assert(
    fc.property(fc.string({ maxLength: 8 }), fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 140 }), (alg, input, sig) => {
      assert.equal(verifyJws(f.key, alg, input, sig), false);
    }),
    { numRuns: 300 },
  );
});

test('property: through the Authenticator, signed and spliced JWTs are accepted exactly when jose jwtVerify accepts them', async (t) => {
  const srv = await new FakeIssuer().listen();
  const algs = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;
  srv.json('/jwks', {
    keys: await Promise.all(algs.map(async (alg) => ({ ...(await exportJWK(fixture(alg).key.cryptoKey)), kid: `k-${alg}`, alg, use: 'sig' }))),
  });
  const auth = new Authenticator({
    cache: { maxEntries: 0 },
    issuers: [{ issuer: srv.url, audiences: ['aud'], jwksUri: `${srv.url}/jwks`, algorithms: [...algs], allowInsecureLoopback: true }],
  });
  t.after(async () => {
    auth.close();
    await srv.close();
  });
  await auth.start();
  const now = Math.floor(Date.now() / 1000);
  const claimsArb = fc.record({
    sub: fc.string({ maxLength: 12 }),
    scope: fc.array(fc.constantFrom('patient/*.rs', 'openid', 'user/Observation.r'), { maxLength: 3 }).map((s) => s.join(' ')),
    jti: fc.uuid(),
  });
  const mintJwt = (alg: (typeof algs)[number], c: Record<string, unknown>): Promise<string> =>
    signJws(alg, fixture(alg).privateKey, new TextEncoder().encode(JSON.stringify({ iss: srv.url, aud: 'aud', iat: now, exp: now + 300, ...c })), {
      kid: `k-${alg}`,
      typ: 'at+jwt',
    });
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...algs),
      claimsArb,
      claimsArb,
      fc.constantFrom('none', 'signature of another token', 'payload of another token', 'header of another algorithm'),
      async (alg, c1, c2, splice) => {
        const a = (await mintJwt(alg, c1)).split('.');
        const b = (await mintJwt(splice === 'header of another algorithm' ? (alg === 'ES256' ? 'RS256' : 'ES256') : alg, c2)).split('.');
        const token =
          splice === 'none'
            ? a.join('.')
            : splice === 'signature of another token'
              ? `${a[0]}.${a[1]}.${b[2]}`
              : splice === 'payload of another token'
                ? `${a[0]}.${b[1]}.${a[2]}`
                : `${b[0]}.${a[1]}.${a[2]}`;
        const mine = await auth.authenticate(bearer(token));
        const key = fixture(alg).key.cryptoKey;
        const reference = await jwtVerify(token, key, { issuer: srv.url, audience: 'aud', algorithms: [alg], typ: 'at+jwt', requiredClaims: ['exp'] }).then(
          () => true,
          () => false,
        );
        // Verdicts must agree whatever the splice (two tokens with the same claims splice back into a valid one).
        if (mine.ok) accepted++;
        assert.equal(mine.ok, reference, `${alg} ${splice}: ${mine.ok ? 'accepted' : mine.reason}`);
        if (splice === 'none') assert.equal(mine.ok, true);
      },
    ),
    { numRuns: 120 },
  );
  assert.ok(accepted > 0);
});
