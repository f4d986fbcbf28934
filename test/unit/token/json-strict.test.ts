import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeUtf8Strict, hasDuplicateKeys, parseStrictJsonObject } from '../../../src/token/json-strict.ts';

test('parses plain objects', () => {
  assert.deepEqual(parseStrictJsonObject('{"a":1,"b":{"c":[1,{"d":2}]}}'), { a: 1, b: { c: [1, { d: 2 }] } });
});

test('rejects non-objects', () => {
  for (const t of ['[]', '1', '"x"', 'null', 'true', '', '{', '{"a":1}x']) assert.equal(parseStrictJsonObject(t), undefined, t);
});

test('rejects duplicate names at top level, nested, and after unescaping', () => {
  assert.equal(parseStrictJsonObject('{"sub":"a","sub":"b"}'), undefined);
  assert.equal(parseStrictJsonObject('{"x":{"r":1,"r":2}}'), undefined);
  assert.equal(parseStrictJsonObject('{"x":[{"r":1,"r":2}]}'), undefined);
  assert.equal(parseStrictJsonObject('{"alg":"RS256","\\u0061lg":"none"}'), undefined);
});

test('same names in different objects, or as values, are fine', () => {
  assert.equal(hasDuplicateKeys('{"a":{"a":1},"b":{"a":2},"c":["a","a"],"d":"a"}'), false);
  assert.equal(hasDuplicateKeys('{"k\\"":"{\\"k\\":1}","k":2}'), false);
});

test('strict UTF-8: invalid sequences and BOM are refused', () => {
  assert.equal(decodeUtf8Strict(new Uint8Array([0x7b, 0xff, 0x7d])), undefined);
  assert.equal(decodeUtf8Strict(new Uint8Array([0xc0, 0xaf])), undefined); // overlong '/'
  assert.equal(decodeUtf8Strict(new Uint8Array([0xed, 0xa0, 0x80])), undefined); // lone surrogate
  assert.equal(decodeUtf8Strict(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), undefined);
  assert.equal(decodeUtf8Strict(new TextEncoder().encode('{"é":1}')), '{"é":1}');
});

test('property: duplicate detector agrees with a reference on generated objects', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'é', '\\u0061'), fc.integer()), { maxLength: 6 }), (pairs) => {
      const text = `{${pairs.map(([k, v]) => `"${k}":${v}`).join(',')}}`;
      const names = pairs.map(([k]) => (k === '\\u0061' ? 'a' : k));
      assert.equal(hasDuplicateKeys(text), new Set(names).size !== names.length);
    }),
    { numRuns: 300 },
  );
});
