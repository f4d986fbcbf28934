import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StructuralSchemaError, toStructural } from '../../../src/k8s/structural.ts';

const refuses = (schema: unknown, fragment: RegExp) =>
  assert.throws(
    () => toStructural(schema),
    (e: unknown) => e instanceof StructuralSchemaError && e.code === 'ERR_K8S_STRUCTURAL' && fragment.test(e.message),
  );

describe('toStructural: one test per rule', () => {
  test('1. additionalProperties: false is dropped; properties are converted recursively', () => {
    const out = toStructural({ type: 'object', additionalProperties: false, properties: { a: { type: 'object', additionalProperties: false, properties: { b: { type: 'boolean' } } } } });
    assert.deepEqual(out, { type: 'object', properties: { a: { type: 'object', properties: { b: { type: 'boolean' } } } } });
  });

  test('1. a schema-valued additionalProperties (a map) is kept on objects without properties', () => {
    const out = toStructural({ type: 'object', maxProperties: 8, additionalProperties: { type: 'string', maxLength: 3 } });
    assert.deepEqual(out, { type: 'object', maxProperties: 8, additionalProperties: { type: 'string', maxLength: 3 } });
  });

  test('1. additionalProperties: true, or a map next to properties, is refused', () => {
    refuses({ type: 'object', additionalProperties: true }, /preserve-unknown-fields/);
    refuses({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'string' } }, /together with properties/);
  });

  test('2. const becomes a one-value enum (and gives the node its type)', () => {
    assert.deepEqual(toStructural({ const: 'fhirgate.io/v1alpha1' }), { type: 'string', enum: ['fhirgate.io/v1alpha1'] });
    assert.deepEqual(toStructural({ const: 3, enum: [1, 3] }), { type: 'integer', enum: [3] });
    refuses({ const: 2, enum: [1, 3] }, /not one of the enum/);
  });

  test('3. a missing type is inferred from enum, properties, required or items', () => {
    assert.equal(toStructural({ enum: ['a', 'b'] }).type, 'string');
    assert.equal(toStructural({ enum: [1, 2] }).type, 'integer');
    assert.equal(toStructural({ enum: [1, 2.5] }).type, 'number');
    assert.equal(toStructural({ enum: [true] }).type, 'boolean');
    assert.equal(toStructural({ properties: {} }).type, 'object');
    assert.equal(toStructural({ required: ['x'] }).type, 'object');
    assert.equal(toStructural({ items: { type: 'string', maxLength: 1 } }).type, 'array');
  });

  test('3. untypable nodes, unions and unknown types are refused', () => {
    refuses({ enum: ['a', 1] }, /mixed types/);
    refuses({}, /no type/);
    refuses({ description: 'x' }, /no type/);
    refuses({ type: ['string', 'null'] }, /union/);
    refuses({ type: 'null' }, /not a Kubernetes schema type/);
    refuses({ enum: [] }, /non-empty/);
  });

  test('4. uniqueItems on scalar lists becomes x-kubernetes-list-type: set', () => {
    const out = toStructural({ type: 'array', maxItems: 3, uniqueItems: true, items: { enum: ['patient', 'user', 'system'] } });
    assert.deepEqual(out, { type: 'array', maxItems: 3, items: { type: 'string', enum: ['patient', 'user', 'system'] }, 'x-kubernetes-list-type': 'set' });
    assert.equal(toStructural({ type: 'array', uniqueItems: false, items: { type: 'boolean' } })['x-kubernetes-list-type'], undefined);
  });

  test('4. uniqueItems on object lists, or against another list type, is refused', () => {
    refuses({ type: 'array', uniqueItems: true, items: { type: 'object' } }, /list of objects/);
    refuses({ type: 'array', uniqueItems: true, 'x-kubernetes-list-type': 'atomic', items: { type: 'string' } }, /conflicts/);
  });

  test('5. patterns outside the RE2/ECMAScript subset are refused with the node path', () => {
    assert.throws(
      () => toStructural({ type: 'object', properties: { a: { type: 'string', pattern: '^(a)\\1$' } } }),
      (e: unknown) => e instanceof StructuralSchemaError && e.path === '.a',
    );
  });

  test('5. the leading (?=.) idiom becomes minLength 1 (keeping a larger minLength)', () => {
    assert.deepEqual(toStructural({ type: 'string', pattern: '^(?=.)c?r?u?d?s?$' }), { type: 'string', minLength: 1, pattern: '^c?r?u?d?s?$', maxLength: 5 });
    assert.equal(toStructural({ type: 'string', minLength: 3, pattern: '^(?=.)a*$' }).minLength, 3);
  });

  test('5. (?=.) is not rewritten when the rest could start with a line terminator', () => {
    refuses({ type: 'string', pattern: '^(?=.)\\s*$' }, /line terminator/);
  });

  test('6. maxLength is inferred from an anchored pattern, never overriding a given bound', () => {
    assert.equal(toStructural({ type: 'string', pattern: '^[A-Z][A-Za-z]{1,63}$' }).maxLength, 64);
    assert.equal(toStructural({ type: 'string', maxLength: 10, pattern: '^[A-Z][A-Za-z]{1,63}$' }).maxLength, 10);
    assert.equal(toStructural({ type: 'string', pattern: '^https?://' }).maxLength, undefined);
    assert.equal(toStructural({ type: 'string', pattern: '^[a-z]+$' }).maxLength, undefined);
  });

  test('7. numeric exclusive bounds become the boolean OpenAPI form', () => {
    assert.deepEqual(toStructural({ type: 'integer', exclusiveMinimum: 0 }), { type: 'integer', minimum: 0, exclusiveMinimum: true });
    assert.deepEqual(toStructural({ type: 'number', exclusiveMaximum: 1.5 }), { type: 'number', maximum: 1.5, exclusiveMaximum: true });
    refuses({ type: 'integer', minimum: 1, exclusiveMinimum: 0 }, /together with minimum/);
  });

  test('8. annotations are dropped; bounds, default, required, description, title and x-kubernetes-* are kept', () => {
    const src = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: 'x',
      $comment: 'c',
      title: 'T',
      description: 'D',
      type: 'object',
      required: ['n'],
      'x-kubernetes-map-type': 'atomic',
      properties: {
        n: { type: 'integer', minimum: 1, maximum: 9, multipleOf: 2, default: 4, examples: [2] },
        s: { type: 'string', minLength: 1, maxLength: 5, format: 'date-time' },
        l: { type: 'array', minItems: 1, maxItems: 2, items: { type: 'boolean', default: false } },
      },
    };
    assert.deepEqual(toStructural(src), {
      type: 'object',
      title: 'T',
      description: 'D',
      required: ['n'],
      'x-kubernetes-map-type': 'atomic',
      properties: {
        n: { type: 'integer', minimum: 1, maximum: 9, multipleOf: 2, default: 4 },
        s: { type: 'string', minLength: 1, maxLength: 5, format: 'date-time' },
        l: { type: 'array', minItems: 1, maxItems: 2, items: { type: 'boolean', default: false } },
      },
    });
  });

  test('8. keywords with no structural equivalent are refused, naming the keyword', () => {
    for (const kw of ['$ref', 'oneOf', 'anyOf', 'allOf', 'not', 'if', 'patternProperties', 'propertyNames', 'prefixItems', 'contains', '$defs', 'dependentRequired', 'unevaluatedProperties']) {
      assert.throws(() => toStructural({ type: 'object', [kw]: {} }), (e: unknown) => e instanceof StructuralSchemaError && e.message.includes(`"${kw}" has no structural equivalent`), kw);
    }
  });

  test('8. formats unknown to the API server are refused', () => {
    refuses({ type: 'string', format: 'uri-reference' }, /format/);
    assert.equal(toStructural({ type: 'string', format: 'date-time' }).format, 'date-time');
  });

  test('keywords of one type on a node of another type are refused', () => {
    refuses({ type: 'string', properties: {} }, /object keywords/);
    refuses({ type: 'string', items: { type: 'string' } }, /array keywords/);
    refuses({ type: 'integer', pattern: '^a$' }, /pattern needs a string/);
    refuses({ type: 'array' }, /needs items/);
    refuses({ type: 'array', items: [{ type: 'string' }] }, /tuple/);
    refuses('string', /must be an object/);
  });

  test('the input is not modified and the output shares no objects with it', () => {
    const src = { type: 'object', additionalProperties: false, properties: { d: { type: 'array', maxItems: 2, items: { type: 'string', maxLength: 2 }, default: ['a'] } } } as const;
    const before = JSON.stringify(src);
    const out = toStructural(src);
    (out.properties!.d!.default as string[]).push('b');
    assert.equal(JSON.stringify(src), before);
  });
});
