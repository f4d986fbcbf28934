import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeComponent, MAX_QUERY_PAIRS, parseFormBody, parseQueryPairs } from '../../../src/fhir/query.ts';

test('pairs: split on & and the first =, empty pieces skipped, + is a space', () => {
  const r = parseQueryPairs('a=1&&b=x=y&c&d=e+f');
  assert.ok(r.ok);
  assert.deepEqual(r.pairs, [['a', '1'], ['b', 'x=y'], ['c', ''], ['d', 'e f']]);
  assert.deepEqual(parseQueryPairs(''), { ok: true, pairs: [] });
});

test('pairs: an empty name or a bad escape rejects the whole query', () => {
  assert.equal(parseQueryPairs('=1').ok, false);
  assert.equal(parseQueryPairs('a=%').ok, false);
  assert.equal(parseQueryPairs('a=b#frag').ok, false);
  assert.equal(parseQueryPairs('a=b c').ok, false);
});

test('pairs: the count is capped', () => {
  const many = Array.from({ length: MAX_QUERY_PAIRS + 1 }, (_, i) => `p${i}=1`).join('&');
  assert.equal(parseQueryPairs(many).ok, false);
  const fine = Array.from({ length: MAX_QUERY_PAIRS }, (_, i) => `p${i}=1`).join('&');
  assert.equal(parseQueryPairs(fine).ok, true);
});

test('decodeComponent: strict UTF-8, no control characters', () => {
  assert.equal(decodeComponent('%C3%A9t%C3%A9'), '\u00e9t\u00e9');
  assert.equal(decodeComponent('%f0%9f%98%80'), '\u{1F600}');
  assert.equal(decodeComponent('%FF'), undefined);
  assert.equal(decodeComponent('%E2%82'), undefined);
  assert.equal(decodeComponent('%7F'), undefined);
  assert.equal(decodeComponent('%1b'), undefined);
  assert.equal(decodeComponent('\t'), undefined);
});

test('form bodies decode like queries and must be ASCII', () => {
  const r = parseFormBody(new TextEncoder().encode('a=%C3%A9&b=2\n'));
  assert.ok(r.ok);
  assert.deepEqual(r.pairs, [['a', '\u00e9'], ['b', '2']]);
  assert.equal(parseFormBody(new Uint8Array([0x61, 0x3d, 0xc3, 0xa9])).ok, false);
});
