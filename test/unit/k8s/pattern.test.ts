import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyzePattern, UnsupportedPatternError } from '../../../src/k8s/pattern.ts';

describe('analyzePattern: lengths', () => {
  const cases: Array<[string, number, number | undefined]> = [
    ['^[A-Z][A-Za-z]{1,63}$', 2, 64],
    ['^(\\*|[A-Z][A-Za-z]{1,63})$', 1, 64],
    ['^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$', 1, 63],
    ['^c?r?u?d?s?$', 0, 5],
    ['^[a-z][A-Za-z0-9]{0,63}(\\[x\\])?$', 1, 67],
    ['^[A-Za-z0-9\\-.]{1,64}$', 1, 64],
    ['^(?:ab|cde)$', 2, 3],
    ['^a$|^bcd$', 1, 3],
    ['^[\\x21-\\x7e]+$', 1, undefined],
    ['^https?://', 7, undefined],
    ['abc$', 3, undefined],
    ['^a{3}$', 3, 3],
    ['^a{2,}$', 2, undefined],
    ['^a{0}b$', 1, 1],
  ];
  for (const [p, min, max] of cases) {
    test(`${p} → min ${min}, max ${max}`, () => {
      const s = analyzePattern(p);
      assert.equal(s.minLength, min);
      assert.equal(s.maxLength, max);
    });
  }

  test('an alternative without anchors makes the pattern unanchored', () => {
    assert.equal(analyzePattern('^a$|b').anchored, false);
    assert.equal(analyzePattern('^a$|b').maxLength, undefined);
    assert.equal(analyzePattern('^(a|b)$').anchored, true);
  });

  test('line terminators: classes that can match them are flagged', () => {
    assert.equal(analyzePattern('^c?r?u?d?s?$').mayMatchLineTerminator, false);
    assert.equal(analyzePattern('^[a-z.]+$').mayMatchLineTerminator, false);
    assert.equal(analyzePattern('^\\s$').mayMatchLineTerminator, true);
    assert.equal(analyzePattern('^[^a]$').mayMatchLineTerminator, true);
    assert.equal(analyzePattern('^[\\x00-\\x7f]$').mayMatchLineTerminator, true);
    assert.equal(analyzePattern('^\\W$').mayMatchLineTerminator, true);
    assert.equal(analyzePattern('^\\n?$').mayMatchLineTerminator, true);
    assert.equal(analyzePattern('^(\\n){0}a$').mayMatchLineTerminator, false);
  });

  // Property: every string the ECMAScript engine matches has a length within the computed bounds.
  const bounded = ['^[A-Z][A-Za-z]{1,63}$', '^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$', '^c?r?u?d?s?$', '^(\\*|[A-Z][a-z]{0,5})x{2,4}$'];
  for (const p of bounded) {
    test(`matches of ${p} respect the bounds`, () => {
      const shape = analyzePattern(p);
      fc.assert(
        fc.property(fc.stringMatching(new RegExp(p)), (s) => {
          const n = [...s].length;
          return n >= shape.minLength && n <= (shape.maxLength ?? Infinity);
        }),
        { numRuns: 300 },
      );
    });
  }
});

describe('analyzePattern: outside the portable subset', () => {
  const refused = [
    '^(?=.)a$', // lookahead: RE2 has none
    '^(?!a)b$',
    '^(?<=a)b$',
    '^(?<n>a)$', // named group
    '^(a)\\1$', // backreference
    '^\\u0041$', // RE2 spells it \x{41}
    '^\\cA$',
    '^\\p{L}$',
    '^a{1001}$', // above RE2's repeat limit
    '^a{3,2}$',
    '^a**$',
    '^[]a]$', // "]" first in a class differs
    '^[[:alpha:]]$', // POSIX class in RE2, literal "[" in ECMAScript
    '^[z-a]$',
    '^(a$',
    '^a)$',
    '^a{$',
    '^\\q$',
    '^(^a)$',
    '^+a$',
    'a\\',
  ];
  for (const p of refused) {
    test(`refuses ${p}`, () => {
      assert.throws(() => analyzePattern(p), (e: unknown) => e instanceof UnsupportedPatternError && e.code === 'ERR_K8S_PATTERN');
    });
  }

  test('accepts the escapes both engines share', () => {
    for (const p of ['^\\d\\w\\s\\D\\W\\S$', '^\\x41\\.\\*\\/\\[\\]$', '^[\\-a\\]]$', '^a+?b*?$', '^\\t\\n\\r\\f\\v$']) {
      assert.doesNotThrow(() => analyzePattern(p), p);
    }
  });
});
