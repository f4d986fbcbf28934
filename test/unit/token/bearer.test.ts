import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { extractBearer, hasAccessTokenParam, isB64Token, locateBearer } from '../../../src/token/bearer.ts';
import { request } from './helpers.ts';

const MAX = 8192;

test('extracts one bearer token, scheme case-insensitive', () => {
  for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
    assert.deepEqual(extractBearer(request({ authorization: `${scheme} abc.DEF-_~+/xyz==` }), MAX), {
      ok: true,
      token: 'abc.DEF-_~+/xyz==',
    });
  }
});

test('no Authorization header → credential_missing', () => {
  assert.deepEqual(extractBearer(request(), MAX), { ok: false, reason: 'credential_missing' });
});

test('malformed schemes and token syntax → credential_malformed', () => {
  for (const value of ['', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer  abc', 'Bearer abc def', 'Bearer abc ', 'Bearerabc', 'Token abc', 'Bearer a=b', 'Bearer =abc', 'Bearer ab\tc', 'Bearer abc\u00e9', 'Digest x']) {
    assert.deepEqual(extractBearer(request({ authorization: value }), MAX), { ok: false, reason: 'credential_malformed' }, value);
  }
});

test('duplicated Authorization header → credential_multiple', () => {
  assert.deepEqual(extractBearer(request({ authorization: 'Bearer abc', duplicates: ['authorization'] }), MAX), {
    ok: false,
    reason: 'credential_multiple',
  });
});

test('Envoy-joined duplicates (comma) → credential_multiple', () => {
  assert.deepEqual(extractBearer(request({ authorization: 'Bearer abc,Bearer def' }), MAX), {
    ok: false,
    reason: 'credential_multiple',
  });
});

test('token in header and query (even percent-encoded name) → credential_multiple', () => {
  for (const rawQuery of ['access_token=x', 'a=1&access_token=x', 'access%5Ftoken=x', 'access_token']) {
    assert.deepEqual(extractBearer(request({ authorization: 'Bearer abc', rawQuery }), MAX), {
      ok: false,
      reason: 'credential_multiple',
    }, rawQuery);
  }
});

test('token in header and form body → credential_multiple; non-form bodies are not scanned', () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
  assert.deepEqual(extractBearer(request({ authorization: 'Bearer abc', headers: form, body: 'x=1&access_token=t' }), MAX), {
    ok: false,
    reason: 'credential_multiple',
  });
  const json = { 'content-type': 'application/fhir+json' };
  assert.equal(extractBearer(request({ authorization: 'Bearer abc', headers: json, body: '{"access_token":1}' }), MAX).ok, true);
});

test('token only in query or body → credential_malformed (unsupported presentation)', () => {
  assert.deepEqual(extractBearer(request({ rawQuery: 'access_token=abc' }), MAX), { ok: false, reason: 'credential_malformed' });
});

test('oversized token → token_too_large before parsing', () => {
  const big = 'a'.repeat(MAX + 1);
  assert.deepEqual(extractBearer(request({ authorization: `Bearer ${big}` }), MAX), { ok: false, reason: 'token_too_large' });
  // exactly at the cap is fine
  assert.equal(extractBearer(request({ authorization: `Bearer ${'a'.repeat(MAX)}` }), MAX).ok, true);
  // huge junk is reported as too large, not scanned
  assert.deepEqual(extractBearer(request({ authorization: `x${','.repeat(100_000)}` }), MAX), { ok: false, reason: 'token_too_large' });
});

test('other query parameters do not count as credentials', () => {
  assert.equal(hasAccessTokenParam('access_token_hint=1&my_access_token=2&x=access_token'), false);
  assert.equal(hasAccessTokenParam('%E0%A4%A=1'), false);
});

test('property: arbitrary header values never throw and only b64tokens are accepted', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (value) => {
      const r = extractBearer(request({ authorization: value }), MAX);
      if (r.ok) assert.match(`Bearer ${r.token}`, /^Bearer [A-Za-z0-9\-._~+/]+=*$/i);
    }),
    { numRuns: 500 },
  );
});

test('locateBearer applies every presentation rule but the b64token syntax, which extractBearer adds', () => {
  const bad = request({ authorization: 'Bearer not a token!' });
  assert.deepEqual(extractBearer(bad, 8192), { ok: false, reason: 'credential_malformed' });
  assert.deepEqual(locateBearer(bad, 8192), { ok: true, token: 'not a token!' });
  assert.equal(isB64Token('not a token!'), false);
  assert.equal(isB64Token('abc.DEF-_~+/=='), true);
  for (const req of [request({}), request({ authorization: 'Basic abc' }), request({ authorization: 'Bearer a, Bearer b' })]) {
    assert.deepEqual(locateBearer(req, 8192), extractBearer(req, 8192));
  }
});
