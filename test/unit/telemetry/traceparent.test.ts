import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatTraceparent, parseTraceparent } from '../../../src/telemetry/traceparent.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

test('valid version-00 headers parse, with the sampled bit from the flags', () => {
  assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-01`), { traceId: TRACE, parentSpanId: SPAN, traceFlags: 1, sampled: true });
  assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-00`), { traceId: TRACE, parentSpanId: SPAN, traceFlags: 0, sampled: false });
  // Unknown flag bits are allowed by the spec and kept; only bit 0 means sampled.
  assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-fe`), { traceId: TRACE, parentSpanId: SPAN, traceFlags: 0xfe, sampled: false });
});

const invalid: ReadonlyArray<[string, string | undefined]> = [
  ['absent', undefined],
  ['empty', ''],
  ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
  ['all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
  ['version 01', `01-${TRACE}-${SPAN}-01`],
  ['version ff', `ff-${TRACE}-${SPAN}-01`],
  ['upper-case trace id', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
  ['upper-case span id', `00-${TRACE}-${SPAN.toUpperCase()}-01`],
  ['upper-case flags', `00-${TRACE}-${SPAN}-0A`],
  ['upper-case version', `0A-${TRACE}-${SPAN}-01`],
  ['trace id too short', `00-${TRACE.slice(1)}-${SPAN}-01`],
  ['trace id too long', `00-${TRACE}0-${SPAN}-01`],
  ['span id too short', `00-${TRACE}-${SPAN.slice(1)}-01`],
  ['span id too long', `00-${TRACE}-${SPAN}0-01`],
  ['flags one digit', `00-${TRACE}-${SPAN}-1`],
  ['flags three digits', `00-${TRACE}-${SPAN}-001`],
  ['trailing field', `00-${TRACE}-${SPAN}-01-extra`],
  ['surrounding whitespace', ` 00-${TRACE}-${SPAN}-01`],
  ['non-hex character', `00-${TRACE.slice(0, 31)}g-${SPAN}-01`],
  ['wrong separators', `00_${TRACE}_${SPAN}_01`],
  ['same length, garbage', 'x'.repeat(55)],
];

for (const [name, header] of invalid) {
  test(`rejected: ${name}`, () => {
    assert.equal(parseTraceparent(header), undefined);
  });
}

const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: n, maxLength: n });

test('property: a well-shaped header parses exactly when version is 00, hex is lower-case and ids are non-zero', () => {
  fc.assert(
    fc.property(fc.oneof(fc.constant('00'), hex(2)), fc.oneof(hex(32), fc.constant('0'.repeat(32))), fc.oneof(hex(16), fc.constant('0'.repeat(16))), hex(2), (v, t, sp, f) => {
      const header = `${v}-${t}-${sp}-${f}`;
      const lower = (x: string) => x === x.toLowerCase();
      const valid = v === '00' && lower(t) && lower(sp) && lower(f) && !/^0+$/.test(t) && !/^0+$/.test(sp);
      const p = parseTraceparent(header);
      assert.equal(p !== undefined, valid, header);
      if (p !== undefined) {
        assert.equal(p.traceId, t);
        assert.equal(p.parentSpanId, sp);
        assert.equal(p.traceFlags, Number.parseInt(f, 16));
      }
    }),
    { numRuns: 1000 },
  );
});

test('property: arbitrary strings never throw and never parse unless canonical', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), (s) => {
      const p = parseTraceparent(s);
      if (p !== undefined) assert.match(s, /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/);
    }),
    { numRuns: 500 },
  );
});

test('formatTraceparent writes version 00 and refuses invalid ids', () => {
  assert.equal(formatTraceparent(TRACE, SPAN, true), `00-${TRACE}-${SPAN}-01`);
  assert.equal(formatTraceparent(TRACE, SPAN, false), `00-${TRACE}-${SPAN}-00`);
  assert.throws(() => formatTraceparent('0'.repeat(32), SPAN, true), TypeError);
  assert.throws(() => formatTraceparent(TRACE, 'xyz', true), TypeError);
});
