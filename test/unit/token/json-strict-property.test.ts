/**
 * The duplicate-name check compares counts (member names in the text vs own keys JSON.parse
 * built); these properties hold it to the direct definition: per object, a set of names compared
 * after unescaping. Generated documents nest objects and arrays, repeat names on purpose, spell
 * the same name with and without escapes, and hide quotes, backslashes and braces inside strings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hasDuplicateKeys, parseStrictJsonObject } from '../../../src/token/json-strict.ts';

/** The direct definition: walk the text, keep one name set per open object, unescape each name. */
function repeatsANameByDefinition(validJson: string): boolean {
  const stack: Array<Set<string> | null> = [];
  let expectName = false;
  for (let i = 0; i < validJson.length; i++) {
    const c = validJson[i];
    if (c === '"') {
      let end = i + 1;
      while (validJson[end] !== '"') end += validJson[end] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (expectName && top) {
        const name = JSON.parse(validJson.slice(i, end + 1)) as string;
        if (top.has(name)) return true;
        top.add(name);
      }
      expectName = false;
      i = end;
    } else if (c === '{') {
      stack.push(new Set());
      expectName = true;
    } else if (c === '[') {
      stack.push(null);
      expectName = false;
    } else if (c === '}' || c === ']') {
      stack.pop();
      expectName = false;
    } else if (c === ',') {
      expectName = stack[stack.length - 1] instanceof Set;
    }
  }
  return false;
}

/** Member names as JSON string literals: several spell the same name ("a" three ways). */
const name = fc.constantFrom('"a"', '"\\u0061"', '"\\u0061"', '"b"', '"a\\""', '"a\\\\"', '"\\\\"', '"é"', '"\\u00e9"', '"__proto__"', '"1"', '"01"', '""');
const ws = fc.constantFrom('', ' ', '\n', '\t ');
const scalar = fc.constantFrom('1', '-0.5e3', 'true', 'null', '"x"', '"{\\"a\\":1}"', '"[,\\"]"', '"\\\\"', '"a\\\\\\"b"', '"}"');

const { json } = fc.letrec<{ json: string; object: string; array: string }>((tie) => ({
  json: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('object'), tie('array')),
  object: fc
    .array(fc.tuple(ws, name, ws, tie('json')), { maxLength: 5 })
    .map((members) => `{${members.map(([w1, n, w2, v]) => `${w1}${n}${w2}:${v}`).join(',')}}`),
  array: fc.array(tie('json'), { maxLength: 4 }).map((items) => `[${items.join(' , ')}]`),
}));

test('property: duplicate detection agrees with the per-object name sets on generated documents', () => {
  let withRepeats = 0;
  fc.assert(
    fc.property(json, (text) => {
      const expected = repeatsANameByDefinition(text);
      if (expected) withRepeats++;
      assert.equal(hasDuplicateKeys(text), expected, text);
      assert.equal(hasDuplicateKeys(text, JSON.parse(text)), expected, text);
    }),
    { numRuns: 2000 },
  );
  assert.ok(withRepeats > 100, `the generator must produce repeated names often (got ${withRepeats})`);
});

test('property: parseStrictJsonObject accepts exactly the objects without repeated names', () => {
  fc.assert(
    fc.property(json, (text) => {
      const value = JSON.parse(text) as unknown;
      const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
      const parsed = parseStrictJsonObject(text);
      if (!isObject || repeatsANameByDefinition(text)) assert.equal(parsed, undefined, text);
      else assert.deepEqual(parsed, value);
    }),
    { numRuns: 1000 },
  );
});

test('a repeat hidden by an overwritten nested object is still found', () => {
  // The first "a" holds an object that JSON.parse drops; its names must not mask the repeat.
  assert.equal(hasDuplicateKeys('{"a":{"x":1,"y":2},"a":{"x":1}}'), true);
  assert.equal(hasDuplicateKeys('{"a":{"x":1},"b":{"x":1,"y":2}}'), false);
  assert.equal(hasDuplicateKeys('{"__proto__":1,"__proto__":2}'), true);
  assert.equal(hasDuplicateKeys('{"1":1,"01":2,"\\u0031":3}'), true);
});

test('deep nesting does not exhaust the stack', () => {
  const depth = 100_000;
  const deep = `{"a":${'['.repeat(depth)}{"b":1,"b":2}${']'.repeat(depth)}}`;
  assert.equal(hasDuplicateKeys(deep), true);
  assert.equal(parseStrictJsonObject(deep), undefined);
});
