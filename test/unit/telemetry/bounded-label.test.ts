import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedLabelSet, OTHER_LABEL } from '../../../src/telemetry/bounded-label.ts';

test('BoundedLabelSet keeps known values and caps new ones', () => {
  const set = new BoundedLabelSet(2, ['a']);
  assert.equal(set.admit('a'), 'a');
  assert.equal(set.admit('b'), 'b');
  assert.equal(set.admit('c'), OTHER_LABEL);
  assert.equal(set.admit('a'), 'a');
  assert.equal(set.size, 2);
  assert.equal(new BoundedLabelSet(5).admit(''), OTHER_LABEL);
  assert.equal(new BoundedLabelSet(5).admit('x'.repeat(200)), OTHER_LABEL);
  assert.equal(new BoundedLabelSet(5).admit('has space'), OTHER_LABEL);
  assert.throws(() => new BoundedLabelSet(0), TypeError);
});
