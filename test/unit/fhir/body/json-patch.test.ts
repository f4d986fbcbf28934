import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJsonPointer, validateJsonPatch } from '../../../../src/fhir/body/json-patch.ts';

test('parses RFC 6901 pointers and refuses malformed ones', () => {
  assert.deepEqual(parseJsonPointer(''), []);
  assert.deepEqual(parseJsonPointer('/a~1b/~0c/0/-'), ['a/b', '~c', '0', '-']);
  assert.equal(parseJsonPointer('a/b'), undefined);
  assert.equal(parseJsonPointer('/a~2'), undefined);
  assert.equal(parseJsonPointer('/a~'), undefined);
});

test('accepts every RFC 6902 operation in its well-formed shape', () => {
  const doc = [
    { op: 'test', path: '/status', value: 'final' },
    { op: 'replace', path: '/status', value: 'amended' },
    { op: 'add', path: '/note/-', value: { text: 'x' } },
    { op: 'remove', path: '/interpretation' },
    { op: 'copy', from: '/id', path: '/identifier/0/value' },
    { op: 'move', from: '/note/0', path: '/note/1' },
    { op: 'test', path: '/id', value: 'abc', comment: 'unknown members are ignored' },
  ];
  const r = validateJsonPatch(doc);
  assert.ok(r.ok);
  assert.equal(r.operations.length, doc.length);
  assert.deepEqual(r.operations[4], { op: 'copy', from: '/id', path: '/identifier/0/value' });
  assert.deepEqual(validateJsonPatch([]), { ok: true, operations: [] });
});

test('refuses malformed patch documents with body_patch_invalid', () => {
  const cases: unknown[] = [
    { op: 'add', path: '/a', value: 1 },
    'x',
    null,
    [null],
    [[]],
    [{ path: '/a', value: 1 }],
    [{ op: 'merge', path: '/a', value: 1 }],
    [{ op: 'ADD', path: '/a', value: 1 }],
    [{ op: 'add', value: 1 }],
    [{ op: 'add', path: 5, value: 1 }],
    [{ op: 'add', path: 'a', value: 1 }],
    [{ op: 'add', path: '/a' }],
    [{ op: 'replace', path: '/a' }],
    [{ op: 'test', path: '/a' }],
    [{ op: 'move', path: '/a' }],
    [{ op: 'copy', path: '/a', from: 'b' }],
  ];
  for (const doc of cases) {
    const r = validateJsonPatch(doc);
    assert.equal(r.ok, false, JSON.stringify(doc));
    assert.equal(!r.ok && r.reason, 'body_patch_invalid', JSON.stringify(doc));
  }
});

test('refuses changes to /id, /resourceType and /meta/security, their parents and children', () => {
  const cases: unknown[] = [
    { op: 'replace', path: '/id', value: 'other' },
    { op: 'remove', path: '/id' },
    { op: 'add', path: '/resourceType', value: 'Patient' },
    { op: 'add', path: '/meta/security/-', value: { code: 'R' } },
    { op: 'remove', path: '/meta/security/0' },
    { op: 'replace', path: '/meta/security/0/code', value: 'N' },
    { op: 'replace', path: '/meta', value: {} },
    { op: 'replace', path: '', value: {} },
    { op: 'move', from: '/meta/security', path: '/meta/tag' },
    { op: 'copy', from: '/meta/tag', path: '/meta/security' },
    { op: 'add', path: '/meta~1security', value: 1, note: 'not protected: a different key' },
  ];
  const results = cases.map((c) => validateJsonPatch([{ op: 'test', path: '/status', value: 'final' }, c]));
  for (let i = 0; i < cases.length - 1; i++) {
    const r = results[i];
    assert.ok(r !== undefined && !r.ok, JSON.stringify(cases[i]));
    assert.equal(r.reason, 'body_patch_forbidden');
    assert.equal(r.detail, 'operation 1 changes a protected element');
  }
  assert.equal(results.at(-1)?.ok, true);
  // Reading protected elements is fine.
  assert.equal(validateJsonPatch([{ op: 'test', path: '/meta/security', value: [] }]).ok, true);
  assert.equal(validateJsonPatch([{ op: 'replace', path: '/meta/tag', value: [] }]).ok, true);
});
