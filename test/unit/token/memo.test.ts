import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedMemo } from '../../../src/token/memo.ts';

test('remembers values by key', () => {
  const m = new BoundedMemo<number>(4, 10);
  assert.equal(m.get('a'), undefined);
  m.set('a', 1);
  m.set('b', 2);
  assert.equal(m.get('a'), 1);
  assert.equal(m.get('b'), 2);
  assert.equal(m.size, 2);
});

test('never holds more than its entry bound: it empties itself when full', () => {
  const m = new BoundedMemo<number>(3, 10);
  for (let i = 0; i < 100; i++) {
    m.set(`k${i}`, i);
    assert.ok(m.size <= 3);
    assert.equal(m.get(`k${i}`), i); // the newest entry is always there
  }
});

test('keys longer than the key bound are not kept', () => {
  const m = new BoundedMemo<number>(3, 5);
  m.set('12345', 1);
  m.set('123456', 2);
  assert.equal(m.get('12345'), 1);
  assert.equal(m.get('123456'), undefined);
  assert.equal(m.size, 1);
});
