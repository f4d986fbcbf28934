import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { DEFAULT_REDACT_LIMITS, REDACTED, isRedactedKey, redactString, redactValue } from '../../../src/telemetry/redact.ts';
import type { RedactOptions } from '../../../src/telemetry/redact.ts';

const opts: RedactOptions = { ...DEFAULT_REDACT_LIMITS, includeStack: false };
const b64url = (s: string): string => Buffer.from(s).toString('base64url');
const SAMPLE_JWT = `${b64url('{"alg":"RS256","kid":"k1"}')}.${b64url('{"sub":"alice","patient":"p1"}')}.c2lnbmF0dXJl`;

test('secret-carrying keys match in every casing and separator style', () => {
  for (const k of ['authorization', 'Authorization', 'SET-COOKIE', 'set_cookie', 'setCookie', 'Proxy-Authorization', 'accessToken', 'ACCESS_TOKEN', 'id_token', 'refresh-token', 'client_secret', 'Password', 'secret', 'body', 'token', 'cookie']) {
    assert.ok(isRedactedKey(k), k);
  }
  for (const k of ['code', 'message', 'issuer', 'client_id', 'tokens_seen', 'bodyPartial']) assert.ok(!isRedactedKey(k), k);
});

test('a redacted key hides the whole value whatever its type', () => {
  const out = redactValue({ Authorization: 'Bearer abc', nested: { cookie: ['a=1', 'b=2'], body: { x: 1 } }, ok: 'visible' }, opts);
  assert.deepEqual(JSON.parse(JSON.stringify(out)), {
    Authorization: REDACTED,
    nested: { cookie: REDACTED, body: REDACTED },
    ok: 'visible',
  });
});

test('JWTs and HTTP credentials inside strings are cut out, the rest of the string stays', () => {
  assert.equal(redactString(`verify failed for ${SAMPLE_JWT} (kid k1)`), `verify failed for ${REDACTED} (kid k1)`);
  assert.equal(redactString('header was Bearer abc.def-ghi'), `header was Bearer ${REDACTED}`);
  assert.equal(redactString('bearer   xyz, next'), `bearer   ${REDACTED}, next`);
  assert.equal(redactString('Basic dXNlcjpwYXNz'), `Basic ${REDACTED}`);
  // A JWE (five segments) and an unsigned JWT (empty third segment) are caught too.
  assert.equal(redactString(`${SAMPLE_JWT}.aaa.bbb`), REDACTED);
  assert.equal(redactString(`${b64url('{"alg":"none"}')}.${b64url('{}')}.`), REDACTED);
  assert.equal(redactString('nothing secret here'), 'nothing secret here');
  // A header-like run without a following dot is not a token and stays.
  assert.equal(redactString('eyJhbGciOiJSUzI1NiJ9 alone'), 'eyJhbGciOiJSUzI1NiJ9 alone');
  assert.equal(redactString(`a eyJeyJeyJ ${SAMPLE_JWT}`), `a eyJeyJeyJ ${REDACTED}`);
});

test('credentials passed as query or form parameters are cut out', () => {
  assert.equal(
    redactString('GET /cb?state=1&access_token=opaque-1&x=2 client_secret=s3 Password=hunter2'),
    `GET /cb?state=1&access_token=${REDACTED}&x=2 client_secret=${REDACTED} Password=${REDACTED}`,
  );
});

test('a JWT cut by truncation is still redacted', () => {
  const long = 'x'.repeat(100) + SAMPLE_JWT;
  // The cut falls 4 characters into the payload segment, after header and first dot.
  const out = redactValue(long, { ...opts, maxStringLength: 100 + 40 }) as string;
  assert.ok(out.startsWith(`${'x'.repeat(100)}${REDACTED}…[truncated `), out);
  assert.ok(!out.includes('eyJ'), out);
});

test('cycles, Maps, Sets, bytes, errors, bigints and URLs become plain bounded JSON', () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic['self'] = cyclic;
  const err = Object.assign(new Error('boom'), { code: 'E_BOOM', token: 'should-not-appear' });
  const out = redactValue(
    {
      cyclic,
      headers: new Map([['authorization', 'Bearer zzz'], ['accept', 'application/fhir+json']]),
      set: new Set([1, 2]),
      bytes: new Uint8Array([1, 2, 3]),
      err,
      big: 10n,
      url: new URL('https://fhir.example/Patient?access_token=abc&name=smith'),
      nan: Number.NaN,
      fn: () => 1,
      undef: undefined,
    },
    opts,
  );
  assert.deepEqual(JSON.parse(JSON.stringify(out)), {
    cyclic: { a: 1, self: '[circular]' },
    headers: { authorization: REDACTED, accept: 'application/fhir+json' },
    set: [1, 2],
    bytes: '[3 bytes]',
    err: { name: 'Error', code: 'E_BOOM', message: 'boom' },
    big: '10',
    url: 'https://fhir.example/Patient',
    nan: 'NaN',
    fn: '[function]',
    undef: null,
  });
});

test('errors carry a stack only when asked (debug)', () => {
  const err = new Error('with stack');
  const plain = redactValue(err, opts) as Record<string, unknown>;
  assert.equal(plain['stack'], undefined);
  const debug = redactValue(err, { ...opts, includeStack: true }) as Record<string, unknown>;
  assert.match(String(debug['stack']), /with stack/);
});

test('size bounds: depth, items, keys and string length', () => {
  let deep: unknown = 'leaf';
  for (let i = 0; i < 20; i++) deep = { d: deep };
  assert.ok(JSON.stringify(redactValue(deep, opts)).includes('[depth limit]'));
  const arr = redactValue(Array.from({ length: 100 }, (_, i) => i), opts) as unknown[];
  assert.equal(arr.length, DEFAULT_REDACT_LIMITS.maxItems + 1);
  assert.equal(arr.at(-1), `[${100 - DEFAULT_REDACT_LIMITS.maxItems} more items]`);
  const obj = redactValue(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])), opts) as Record<string, unknown>;
  assert.equal(Object.keys(obj).length, DEFAULT_REDACT_LIMITS.maxItems + 1);
  const s = redactValue('y'.repeat(10_000), opts) as string;
  assert.ok(s.length < 2100 && s.endsWith('[truncated 7952 chars]'));
});

test('hostile objects (throwing getters, revoked proxies, __proto__ keys) do not throw', () => {
  const getter = Object.defineProperty({}, 'boom', { enumerable: true, get: () => { throw new Error('no'); } });
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  const protoKey = JSON.parse('{"__proto__": {"polluted": true}}') as unknown;
  assert.equal(redactValue(getter, opts), '[unserializable]');
  assert.equal(redactValue(proxy, opts), '[unserializable]');
  const out = redactValue(protoKey, opts) as Record<string, unknown>;
  assert.deepEqual(Object.keys(out), ['__proto__']);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});

// ── property: a secret placed anywhere never reaches the output ──────────────────────────────────

const REDACTED_KEY_NAMES = ['authorization', 'Cookie', 'set-cookie', 'proxy-authorization', 'token', 'access_token', 'ID_TOKEN', 'refresh_token', 'client_secret', 'password', 'secret', 'body'];

/** A secret that cannot appear by chance in fast-check's other values. */
const secretArb = fc.string({ unit: fc.constantFrom(...'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'), minLength: 16, maxLength: 24 }).map((s) => `S3CR3T${s}`);
const jwtArb = fc
  .tuple(fc.jsonValue(), fc.jsonValue(), fc.uint8Array({ minLength: 16, maxLength: 64 }), secretArb)
  .map(([h, p, sig, secret]) => `${b64url(JSON.stringify({ alg: 'RS256', h }))}.${b64url(JSON.stringify({ p, secret }))}.${Buffer.from(sig).toString('base64url')}`);

type Placement = { kind: 'key'; key: string; secret: string } | { kind: 'jwt'; jwt: string; prefix: string } | { kind: 'bearer'; secret: string };

const placementArb: fc.Arbitrary<Placement> = fc.oneof(
  fc.record({ kind: fc.constant('key' as const), key: fc.constantFrom(...REDACTED_KEY_NAMES), secret: secretArb }),
  fc.record({ kind: fc.constant('jwt' as const), jwt: jwtArb, prefix: fc.constantFrom('', 'token=', 'see ', '"') }),
  fc.record({ kind: fc.constant('bearer' as const), secret: secretArb }),
);

/** Inserts the secret at a path chosen by `path` (indices into existing containers or new keys). */
function insert(host: unknown, path: readonly number[], placement: Placement): unknown {
  const leaf = (): unknown => {
    switch (placement.kind) {
      case 'key':
        return { [placement.key]: placement.secret };
      case 'jwt':
        return `${placement.prefix}${placement.jwt}`;
      case 'bearer':
        return `Authorization: Bearer ${placement.secret}`;
    }
  };
  const [step, ...rest] = path;
  if (step === undefined || host === null || typeof host !== 'object') return { wrapped: host, inserted: leaf() };
  if (Array.isArray(host)) {
    const copy = [...host];
    copy.splice(step % (copy.length + 1), 0, rest.length === 0 ? leaf() : insert(copy[step % Math.max(copy.length, 1)], rest, placement));
    return copy;
  }
  const keys = Object.keys(host);
  const target = keys.length === 0 ? 'child' : (keys[step % keys.length] ?? 'child');
  return { ...(host as Record<string, unknown>), [`${target}_x`]: rest.length === 0 ? leaf() : insert((host as Record<string, unknown>)[target], rest, placement) };
}

function secretOf(p: Placement): string {
  return p.kind === 'jwt' ? p.jwt : p.secret;
}

test('property: a secret under a redacted key, as a JWT or as a Bearer credential never appears in the output', () => {
  fc.assert(
    fc.property(fc.anything({ maxDepth: 4 }), fc.array(fc.nat(), { maxLength: 6 }), placementArb, (host, path, placement) => {
      const value = insert(host, path, placement);
      // The secret really is in the input (so the property is not passing vacuously)…
      assert.ok(inspect(value, { depth: null, maxArrayLength: null, maxStringLength: null }).includes(secretOf(placement)));
      const out = JSON.stringify(redactValue(value, opts));
      assert.ok(!out.includes(secretOf(placement)), out);
      if (placement.kind !== 'jwt') assert.ok(!out.includes(placement.secret));
    }),
    { numRuns: 400 },
  );
});

test('property: output is always valid JSON and redaction never throws', () => {
  fc.assert(
    fc.property(fc.anything({ maxDepth: 5, withMap: true, withSet: true, withBigInt: true, withDate: true, withTypedArray: true, withNullPrototype: true }), (v) => {
      const out = redactValue(v, opts);
      assert.doesNotThrow(() => JSON.parse(JSON.stringify(out)));
    }),
    { numRuns: 300 },
  );
});
