import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkJsonCaps } from '../../../../src/fhir/body/json-caps.ts';

const caps = { maxArrayLength: 3, maxStringLength: 5 };

test('passes values within the caps', () => {
  assert.deepEqual(checkJsonCaps({ a: [1, 2, 3], b: 'abcde', c: { d: null, e: true } }, caps), { ok: true });
});

test('reports the path of an over-long array or string, and of an object with an over-long key', () => {
  assert.deepEqual(checkJsonCaps({ a: { b: [1, 2, 3, 4] } }, caps), { ok: false, error: 'array_too_long', path: '/a/b' });
  assert.deepEqual(checkJsonCaps({ a: [{ 'x/y': 'abcdef' }] }, caps), { ok: false, error: 'string_too_long', path: '/a/0/x~1y' });
  assert.deepEqual(checkJsonCaps({ a: { abcdefg: 1 } }, caps), { ok: false, error: 'string_too_long', path: '/a' });
});

test('refuses lone surrogates in strings and keys', () => {
  assert.deepEqual(checkJsonCaps(['\ud800'], caps), { ok: false, error: 'string_not_well_formed', path: '/0' });
  assert.deepEqual(checkJsonCaps({ '\udc00': 1 }, caps), { ok: false, error: 'string_not_well_formed', path: '' });
  assert.deepEqual(checkJsonCaps(['\ud83d\ude00'], caps), { ok: true });
});
