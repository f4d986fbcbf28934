/**
 * The canonical-base64url check decides without decoding; these properties hold it to the
 * definition it replaces: a segment is canonical when it is unpadded base64url, its length is
 * not 1 mod 4, and decoding then re-encoding gives the same text back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeSegment, isCanonicalBase64url, parseCompactJws } from '../../../src/token/compact.ts';
import { b64, b64json } from './helpers.ts';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The definition: alphabet, length, and a decode/re-encode round trip. */
function canonicalByRoundTrip(seg: string): boolean {
  if (!/^[A-Za-z0-9_-]*$/.test(seg) || seg.length % 4 === 1) return false;
  return Buffer.from(seg, 'base64url').toString('base64url') === seg;
}

/** Strings mostly of base64url characters, with the characters that break it mixed in. */
const segmentLike = fc.string({
  unit: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...ALPHABET) },
    { weight: 1, arbitrary: fc.constantFrom('=', '+', '/', '.', ' ', '\n', '\u0000', 'é', '\u{1F600}', '\uD800', 'Ａ') },
  ),
  maxLength: 40,
});

/** Encodings of real bytes with the last character replaced: stray low bits, or not. */
const lastCharVariants = fc
  .tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.constantFrom(...ALPHABET))
  .map(([bytes, ch]) => {
    const enc = b64(bytes);
    return enc.slice(0, -1) + ch;
  });

test('property: isCanonicalBase64url agrees with the decode/re-encode definition on arbitrary strings', () => {
  fc.assert(
    fc.property(fc.oneof(segmentLike, lastCharVariants, fc.string({ maxLength: 20 })), (seg) => {
      assert.equal(isCanonicalBase64url(seg), canonicalByRoundTrip(seg), JSON.stringify(seg));
    }),
    { numRuns: 3000 },
  );
});

test('property: every encoding of real bytes is canonical and decodes back to them', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const seg = b64(bytes);
      assert.equal(isCanonicalBase64url(seg), true);
      assert.deepEqual(decodeSegment(seg), Buffer.from(bytes));
    }),
    { numRuns: 500 },
  );
});

test('canonical base64url: each length class and each kind of stray bit', () => {
  assert.equal(isCanonicalBase64url(''), true);
  assert.equal(isCanonicalBase64url('QUJD'), true); // 0 mod 4: no unused bits
  assert.equal(isCanonicalBase64url('QQ'), true); // 2 mod 4: 4 unused bits, all zero
  for (const ch of 'RSTUVWXYZabcdef') assert.equal(isCanonicalBase64url(`Q${ch}`), false, `Q${ch}`);
  assert.equal(isCanonicalBase64url('QUI'), true); // 3 mod 4: 2 unused bits, all zero
  for (const ch of 'JKL') assert.equal(isCanonicalBase64url(`QU${ch}`), false, `QU${ch}`);
  assert.equal(isCanonicalBase64url('Q'), false); // 1 mod 4 encodes no whole byte
  assert.equal(isCanonicalBase64url('QQ=='), false); // padding
  assert.equal(isCanonicalBase64url('a+b/'), false); // base64, not base64url
  assert.equal(isCanonicalBase64url('QU I'), false);
});

test('a signature segment is checked for canonical spelling without being decoded by us', () => {
  const h = b64json({ alg: 'RS256' });
  const p = b64json({ iss: 'https://issuer', exp: 1 });
  assert.equal(parseCompactJws(`${h}.${p}.QQ`).ok, true);
  for (const s of ['QR', 'Q', 'QQ==', 'a+b/', 'QQ QQ']) {
    assert.deepEqual(parseCompactJws(`${h}.${p}.${s}`), { ok: false, reason: 'token_malformed' }, s);
  }
});

test('parsed tokens carry the exact payload bytes their claims came from', () => {
  const payload = JSON.stringify({ iss: 'https://issuer', exp: 1, name: 'é' });
  const r = parseCompactJws(`${b64json({ alg: 'RS256' })}.${b64(payload)}.QQ`);
  assert.ok(r.ok);
  assert.equal(Buffer.from(r.jws.payloadBytes).toString('utf8'), payload);
  assert.deepEqual(r.jws.unverifiedClaims, JSON.parse(payload));
});

test('a header segment seen before parses to the same, frozen header; the payload is parsed every time', () => {
  const h = b64json({ alg: 'RS256', kid: 'k-memo', typ: 'at+jwt' });
  const a = parseCompactJws(`${h}.${b64json({ iss: 'https://issuer', exp: 1, sub: 'a' })}.QQ`);
  const b = parseCompactJws(`${h}.${b64json({ iss: 'https://issuer', exp: 2, sub: 'b' })}.QQ`);
  assert.ok(a.ok && b.ok);
  assert.deepEqual(b.jws.header, { alg: 'RS256', kid: 'k-memo', typ: 'at+jwt' });
  assert.ok(Object.isFrozen(b.jws.header));
  assert.equal(b.jws.kid, 'k-memo');
  assert.equal(a.jws.unverifiedClaims['sub'], 'a');
  assert.equal(b.jws.unverifiedClaims['sub'], 'b');
  // A header refused by the header rules is refused every time it comes back.
  const none = b64json({ alg: 'none' });
  for (let i = 0; i < 3; i++) assert.deepEqual(parseCompactJws(`${none}.${b64json({ iss: 'x' })}.QQ`), { ok: false, reason: 'token_header_rejected' });
});

test('property: a token parses the same however many other headers were parsed in between', () => {
  // More distinct headers than the parser remembers, good and bad, revisited in random order.
  const headers = Array.from({ length: 150 }, (_, i) => {
    switch (i % 5) {
      case 0:
        return b64json({ alg: 'RS256', kid: `k${i}` });
      case 1:
        return b64json({ alg: 'none', kid: `k${i}` });
      case 2:
        return b64(`{"alg":"RS256","kid":"k${i}","alg":"none"}`);
      case 3:
        return `${b64json({ alg: 'ES256', kid: `k${i}` }).slice(0, -1)}_`; // stray bits or bad length
      default:
        return b64json({ alg: 'PS256', jku: `https://k${i}` });
    }
  });
  const payload = b64json({ iss: 'https://issuer', exp: 1 });
  const first = new Map<string, unknown>();
  fc.assert(
    fc.property(fc.array(fc.nat(headers.length - 1), { minLength: 200, maxLength: 400 }), (picks) => {
      for (const i of picks) {
        const token = `${headers[i]}.${payload}.QQ`;
        const r = parseCompactJws(token);
        if (!first.has(token)) first.set(token, r);
        assert.deepEqual(r, first.get(token), headers[i]);
        if (i % 5 === 0) assert.ok(r.ok && r.jws.kid === `k${i}`);
        else assert.equal(r.ok, false);
      }
    }),
    { numRuns: 50 },
  );
});

test('property: decodeSegment accepts exactly the canonical segments, and decodes them exactly', () => {
  fc.assert(
    fc.property(fc.oneof(segmentLike, lastCharVariants, fc.string({ maxLength: 20 })), (seg) => {
      const bytes = decodeSegment(seg);
      assert.equal(bytes !== undefined, canonicalByRoundTrip(seg), JSON.stringify(seg));
      assert.equal(bytes !== undefined, isCanonicalBase64url(seg), JSON.stringify(seg));
      if (bytes !== undefined) assert.equal(Buffer.from(bytes).toString('base64url'), seg);
    }),
    { numRuns: 3000 },
  );
});
