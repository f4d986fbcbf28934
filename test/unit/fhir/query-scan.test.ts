/**
 * parseQueryPairs scans the query with indexOf and decodeComponent decodes with
 * decodeURIComponent (both to allocate less per request). These tests hold them to the
 * straightforward readings they replaced: split on '&' and the first '=', and a byte buffer
 * decoded by a fatal UTF-8 TextDecoder.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeComponent, MAX_QUERY_PAIRS, parseQueryPairs } from '../../../src/fhir/query.ts';
import type { QueryResult } from '../../../src/fhir/query.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The reference decoding: escapes and raw characters into bytes, then a fatal UTF-8 decode. */
function decodeReference(s: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c === 0x2b) {
      bytes.push(0x20);
    } else if (c <= 0x20 || c >= 0x7f || c === 0x23) {
      return undefined;
    } else {
      bytes.push(c);
    }
  }
  let out: string;
  try {
    out = utf8.decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
  return /[\x00-\x1f\x7f]/.test(out) ? undefined : out;
}

/** The reference splitting: split on '&', then on the first '='. */
function pairsReference(raw: string): QueryResult {
  const pairs: Array<readonly [string, string]> = [];
  if (raw === '') return { ok: true, pairs };
  const pieces = raw.split('&');
  if (pieces.length > MAX_QUERY_PAIRS * 4) return { ok: false };
  for (const piece of pieces) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const name = decodeReference(eq < 0 ? piece : piece.slice(0, eq));
    const value = decodeReference(eq < 0 ? '' : piece.slice(eq + 1));
    if (name === undefined || value === undefined || name === '') return { ok: false };
    pairs.push([name, value]);
    if (pairs.length > MAX_QUERY_PAIRS) return { ok: false };
  }
  return { ok: true, pairs };
}

/** Percent-escapes of arbitrary bytes (often continuation bytes), mixed with characters that matter. */
const encoded = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 255 }).map((b) => `%${b.toString(16).padStart(2, '0')}`),
      fc.integer({ min: 0x80, max: 0xbf }).map((b) => `%${b.toString(16).toUpperCase()}`),
      fc.constantFrom('a', 'Z', '9', '+', '%', '%2', '%zz', '#', ' ', '\u00e9', '\t', '=', '|', '%2B', '%E2%9C%93', '%F0%9F%98%80', '%ED%A0%80', '%C0%AF', '%EF%BB%BF'),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

test('decodeComponent agrees with a byte buffer decoded by a fatal UTF-8 TextDecoder', () => {
  fc.assert(
    fc.property(encoded, (s) => {
      assert.equal(decodeComponent(s), decodeReference(s));
    }),
    { numRuns: 20000 },
  );
  // Every two-byte escape sequence, exhaustively (lead bytes, continuations, overlong forms).
  for (let a = 0; a < 256; a++) {
    for (let b = 0; b < 256; b += a >= 0xc0 ? 1 : 37) {
      const s = `%${a.toString(16).padStart(2, '0')}%${b.toString(16).padStart(2, '0')}`;
      assert.equal(decodeComponent(s), decodeReference(s), s);
    }
  }
});

test('decodeComponent: a plus is a space, an escaped plus stays a plus', () => {
  assert.equal(decodeComponent('a+b%2Bc'), 'a b+c');
  assert.equal(decodeComponent('%EF%BB%BF'), '\uFEFF'); // a BOM inside a value is kept, not stripped
  assert.equal(decodeComponent('%F4%90%80%80'), undefined); // above U+10FFFF
});

const QUERY_PARTS = ['a', 'b', '=', '&', '&&', '=x', '%41', '%', '+', 'patient', '_count=1', 'x=y=z', '#', ' '];

test('parseQueryPairs agrees with splitting on & and the first =', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...QUERY_PARTS), { maxLength: 16 }), (parts) => {
      const raw = parts.join('');
      assert.deepEqual(parseQueryPairs(raw), pairsReference(raw));
    }),
    { numRuns: 20000 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), (raw) => {
      assert.deepEqual(parseQueryPairs(raw), pairsReference(raw));
    }),
    { numRuns: 5000 },
  );
});

test('parseQueryPairs: pieces without "=" before one with it', () => {
  assert.deepEqual(parseQueryPairs('a&b&c=1&d'), { ok: true, pairs: [['a', ''], ['b', ''], ['c', '1'], ['d', '']] });
  assert.deepEqual(parseQueryPairs('&&&'), { ok: true, pairs: [] });
});

test('parseQueryPairs: the piece cap counts empty pieces too', () => {
  const pieces = (n: number): string => 'a=1' + '&'.repeat(n - 1);
  assert.equal(parseQueryPairs(pieces(MAX_QUERY_PAIRS * 4)).ok, true);
  assert.equal(parseQueryPairs(pieces(MAX_QUERY_PAIRS * 4 + 1)).ok, false);
  // Many names without '=' and one '=' at the very end: still one linear scan, still correct.
  const many = Array.from({ length: MAX_QUERY_PAIRS - 1 }, (_, i) => `n${i}`).join('&') + '&last=1';
  const r = parseQueryPairs(many);
  assert.ok(r.ok);
  assert.equal(r.pairs.length, MAX_QUERY_PAIRS);
  assert.deepEqual(r.pairs.at(-1), ['last', '1']);
});
