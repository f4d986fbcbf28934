import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkHeaderPolicy, decodeSegment, parseCompactJws } from '../../../src/token/compact.ts';
import { b64, b64json } from './helpers.ts';

const claims = b64json({ iss: 'https://issuer', exp: 1 });
const sig = b64('signature-bytes');
const tok = (header: unknown, payload = claims, s = sig): string => `${b64json(header)}.${payload}.${s}`;

test('parses a well-formed token without verifying it', () => {
  const r = parseCompactJws(tok({ alg: 'RS256', kid: 'k1', typ: 'at+jwt' }));
  assert.equal(r.ok, true);
  if (r.ok) {
    assert.equal(r.jws.alg, 'RS256');
    assert.equal(r.jws.kid, 'k1');
    assert.equal(r.jws.unverifiedClaims['iss'], 'https://issuer');
  }
});

test('segment count: 5 (JWE) is rejected as a header problem, others as malformed', () => {
  assert.deepEqual(parseCompactJws('a.b.c.d.e'), { ok: false, reason: 'token_header_rejected' });
  for (const t of ['abc', 'a.b', 'a.b.c.d', 'a.b.c.d.e.f']) assert.deepEqual(parseCompactJws(t), { ok: false, reason: 'token_malformed' });
});

test('base64url must be canonical', () => {
  assert.equal(decodeSegment('QQ')?.length, 1);
  assert.equal(decodeSegment('QR'), undefined); // stray low bits
  assert.equal(decodeSegment('QQ=='), undefined); // padding is not base64url
  assert.equal(decodeSegment('Q'), undefined);
  assert.equal(decodeSegment('a+b/'), undefined);
});

test('header rules', () => {
  const rejected = [
    { alg: 'none' },
    { alg: 'NONE' },
    { alg: 'RS256', crit: ['exp'] },
    { alg: 'RS256', jku: 'https://x' },
    { alg: 'RS256', x5u: 'https://x' },
    { alg: 'RS256', jwk: { kty: 'oct' } },
    { alg: 'RS256', x5c: ['MII'] },
    { alg: 'RS256', cty: 'JWT' },
    { alg: 'RS256', enc: 'A256GCM' },
    { alg: 'RS256', b64: false },
    { alg: 'RS256', kid: 7 },
    { alg: 'RS256', kid: '' },
    { alg: 'RS256', kid: '../../etc/passwd' },
    { alg: 'RS256', typ: 1 },
    { alg: 5 },
    {},
  ];
  for (const h of rejected) assert.deepEqual(parseCompactJws(tok(h)), { ok: false, reason: 'token_header_rejected' }, JSON.stringify(h));
});

test('issuer policy: algorithm allowlist is exact, typ compared as a media type', () => {
  const parsed = parseCompactJws(tok({ alg: 'RS256', typ: 'application/AT+JWT' }));
  assert.ok(parsed.ok);
  assert.equal(checkHeaderPolicy(parsed.jws, { algorithms: ['RS256'], allowedTyp: ['at+jwt'] }), undefined);
  assert.equal(checkHeaderPolicy(parsed.jws, { algorithms: ['rs256'], allowedTyp: undefined }), 'token_header_rejected');
  assert.equal(checkHeaderPolicy(parsed.jws, { algorithms: ['RS256'], allowedTyp: ['JWT'] }), 'token_header_rejected');
  const noTyp = parseCompactJws(tok({ alg: 'RS256' }));
  assert.ok(noTyp.ok);
  assert.equal(checkHeaderPolicy(noTyp.jws, { algorithms: ['RS256'], allowedTyp: ['at+jwt'] }), 'token_header_rejected');
});

test('empty signature or payload segments are malformed', () => {
  assert.deepEqual(parseCompactJws(tok({ alg: 'RS256' }, claims, '')), { ok: false, reason: 'token_malformed' });
  assert.deepEqual(parseCompactJws(tok({ alg: 'RS256' }, '')), { ok: false, reason: 'token_malformed' });
});
