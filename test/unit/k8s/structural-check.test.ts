import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { structuralProblems } from '../../../src/k8s/structural-check.ts';
import type { JSONSchemaProps } from '../../../src/k8s/schema-types.ts';

const problems = (s: unknown, requireBounds = true) => structuralProblems(s as JSONSchemaProps, { requireBounds });
const flags = (s: unknown, fragment: RegExp, requireBounds = true) => {
  const p = problems(s, requireBounds);
  assert.ok(p.some((m) => fragment.test(m)), `expected ${fragment} in ${JSON.stringify(p)}`);
};

describe('structuralProblems', () => {
  test('a bounded, fully typed schema has no problems', () => {
    assert.deepEqual(
      problems({
        type: 'object',
        required: ['a'],
        properties: {
          a: { type: 'string', maxLength: 4, pattern: '^[a-z]+$' },
          b: { type: 'array', maxItems: 2, items: { type: 'string', enum: ['x'] }, 'x-kubernetes-list-type': 'set' },
          c: { type: 'object', maxProperties: 4, additionalProperties: { type: 'integer' } },
          t: { type: 'string', format: 'date-time' },
          m: { type: 'array', maxItems: 2, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['k'], items: { type: 'object', required: ['k'], properties: { k: { type: 'string', maxLength: 1 } } } },
          port: { 'x-kubernetes-int-or-string': true },
        },
      }),
      [],
    );
  });

  test('every node needs a type (unless int-or-string / preserve-unknown-fields)', () => {
    flags({ type: 'object', properties: { a: { maxLength: 1 } } }, /^\.a: every node needs a type/);
    assert.deepEqual(problems({ 'x-kubernetes-preserve-unknown-fields': true }), []);
    flags({ type: 'map' }, /unknown type/);
  });

  test('no additionalProperties next to properties, and never a boolean', () => {
    flags({ type: 'object', properties: {}, additionalProperties: { type: 'string', maxLength: 1 }, maxProperties: 1 }, /mutually exclusive/);
    flags({ type: 'object', additionalProperties: false }, /not a boolean/);
  });

  test('no $ref, const, uniqueItems or other keywords outside JSONSchemaProps', () => {
    flags({ type: 'object', $ref: '#/x' }, /"\$ref" is not part/);
    flags({ type: 'string', const: 'a', maxLength: 1 }, /"const" is not part/);
    flags({ type: 'array', maxItems: 1, uniqueItems: true, items: { type: 'boolean' } }, /uniqueItems/);
    flags({ type: 'object', definitions: {} }, /"definitions"/);
  });

  test('junctors may not carry types, defaults, descriptions or undeclared properties', () => {
    flags({ type: 'object', properties: { a: { type: 'string', maxLength: 1 } }, oneOf: [{ type: 'object' }] }, /oneOf\[0\]: "type" is not allowed/);
    flags({ type: 'object', properties: {}, anyOf: [{ required: ['b'], properties: { b: {} } }] }, /anyOf\[0\]\.b: property is not declared/);
    flags({ type: 'object', properties: { a: { type: 'string', maxLength: 1 } }, allOf: [{ properties: { a: { description: 'x' } } }] }, /allOf\[0\]\.a: "description"/);
    flags({ type: 'string', maxLength: 1, not: { default: 'a' } }, /not: "default"/);
    flags({ type: 'string', maxLength: 1, anyOf: [{ 'x-kubernetes-int-or-string': true }] }, /"x-kubernetes-int-or-string" is not allowed inside/);
    assert.deepEqual(problems({ type: 'object', properties: { a: { type: 'string', maxLength: 1 } }, oneOf: [{ required: ['a'] }, { properties: { a: { pattern: '^b$' } } }] }), []);
  });

  test('bounds: arrays need maxItems, strings maxLength/enum/known format, maps maxProperties', () => {
    flags({ type: 'array', items: { type: 'boolean' } }, /needs maxItems/);
    flags({ type: 'string' }, /needs maxLength/);
    flags({ type: 'object', additionalProperties: { type: 'boolean' } }, /needs maxProperties/);
    assert.deepEqual(problems({ type: 'string' }, false), []);
    assert.deepEqual(problems({ type: 'string', enum: ['a'] }), []);
  });

  test('arrays need items; list types must fit their items', () => {
    flags({ type: 'array', maxItems: 1 }, /needs items/);
    flags({ type: 'array', maxItems: 1, 'x-kubernetes-list-type': 'set', items: { type: 'object' } }, /scalar items/);
    flags({ type: 'array', maxItems: 1, 'x-kubernetes-list-type': 'map', items: { type: 'object', properties: {} } }, /needs x-kubernetes-list-map-keys/);
    flags({ type: 'array', maxItems: 1, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['k'], items: { type: 'object', properties: {} } }, /map key "k" is not a property/);
    flags({ type: 'array', maxItems: 1, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['k'], items: { type: 'object', properties: { k: { type: 'string', maxLength: 1 } } } }, /must be required or defaulted/);
    flags({ type: 'array', maxItems: 1, 'x-kubernetes-list-map-keys': ['k'], items: { type: 'boolean' } }, /needs x-kubernetes-list-type: map/);
    flags({ type: 'string', maxLength: 1, items: { type: 'string' } }, /array keywords on a non-array/);
  });

  test('patterns must be portable; ranges consistent; enum/default fit the type', () => {
    flags({ type: 'string', maxLength: 3, pattern: '^(?=a)a$' }, /lookaround/);
    flags({ type: 'string', minLength: 3, maxLength: 2 }, /minLength > maxLength/);
    flags({ type: 'integer', minimum: 3, maximum: 2 }, /minimum > maximum/);
    flags({ type: 'array', minItems: 3, maxItems: 2, items: { type: 'boolean' } }, /minItems > maxItems/);
    flags({ type: 'string', enum: ['a', 1] }, /enum value 1 does not fit/);
    flags({ type: 'integer', default: 'x' }, /default "x" does not fit/);
    flags({ type: 'string', enum: ['a'], default: 'b' }, /not one of the enum/);
    flags({ type: 'integer', maxLength: 1 }, /string keywords on a non-string/);
    flags({ type: 'string', required: ['a'], maxLength: 1 }, /object keywords on a non-object/);
    flags({ type: 'object', required: ['a'], properties: {} }, /required field "a" is not a property/);
    assert.deepEqual(problems({ type: 'number', default: 3 }), []);
  });

  test('CEL rules need a rule and a one-line message', () => {
    flags({ type: 'boolean', 'x-kubernetes-validations': [{ rule: ' ' }] }, /needs a rule/);
    flags({ type: 'boolean', 'x-kubernetes-validations': [{ rule: 'self', message: 'a\nb' }] }, /one non-empty line/);
  });
});
