import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson, contentHash, DesiredState } from '../../../src/controller/desired-state.ts';

test('canonical JSON sorts keys at every depth and drops undefined', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: undefined, x: 0 }], c: null } }), '{"a":{"c":null,"d":[2,{"x":0,"z":1}]},"b":1}');
});

test('property: key order never changes the hash', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (o) => {
      const reversed = Object.fromEntries(Object.entries(o).reverse());
      assert.equal(contentHash(canonicalJson(o)), contentHash(canonicalJson(reversed)));
    }),
  );
});

test('set notifies only on real changes, per namespace; delete removes', () => {
  const d = new DesiredState();
  const seen: string[] = [];
  d.onChange((ns) => seen.push(ns));
  d.set('FhirAccessPolicy', 'a', 'p', { spec: { x: 1 } });
  d.set('FhirAccessPolicy', 'a', 'p', { spec: { x: 1 } });
  d.set('FhirAccessPolicy', 'b', 'p', { spec: { x: 2 } });
  d.set('FhirAccessPolicy', 'a', 'p', undefined);
  d.set('FhirAccessPolicy', 'a', 'p', undefined);
  assert.deepEqual(seen, ['a', 'b', 'a']);
  assert.equal(d.get('FhirAccessPolicy', 'a', 'p'), undefined);
  assert.deepEqual(d.namespaces(), ['b']);
});

test('content is per namespace, sorted, and revocations are unioned', () => {
  const d = new DesiredState();
  d.set('FhirAccessPolicy', 'ns', 'b', { metadata: { name: 'b' } });
  d.set('FhirAccessPolicy', 'ns', 'a', { metadata: { name: 'a' } });
  d.set('FhirAccessPolicy', 'other', 'c', { metadata: { name: 'c' } });
  d.set('TokenRevocation', 'ns', 'r1', { jtis: ['j2', 'j1'], subjects: [{ issuer: 'i', subject: 's' }], clients: [] });
  d.set('TokenRevocation', 'ns', 'r2', { jtis: ['j1'], subjects: [{ issuer: 'i', subject: 's' }], clients: ['c1'] });
  const c = d.content('ns');
  assert.deepEqual(c.policies.map((p) => p.metadata.name), ['a', 'b']);
  assert.deepEqual(c.revocations, { jtis: ['j1', 'j2'], subjects: [{ issuer: 'i', subject: 's' }], clients: ['c1'] });
});
