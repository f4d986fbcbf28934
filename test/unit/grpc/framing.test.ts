import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameError, PREFIX_BYTES, UnaryRequestReader, frameMessage } from '../../../src/grpc/framing.ts';
import { GrpcStatus } from '../../../src/grpc/status.ts';
import { parseGrpcTimeout } from '../../../src/grpc/timeout.ts';

function prefix(flag: number, length: number): Buffer {
  const b = Buffer.alloc(PREFIX_BYTES);
  b[0] = flag;
  b.writeUInt32BE(length, 1);
  return b;
}

function readAll(chunks: Buffer[], max = 1024): Buffer {
  const r = new UnaryRequestReader(max);
  for (const c of chunks) r.push(c);
  return r.end();
}

function codeOf(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FrameError, `a FrameError, not ${String(err)}`);
    return err.code;
  }
  assert.fail('expected a FrameError');
}

test('frameMessage writes flag 0 and the big-endian length', () => {
  assert.deepStrictEqual(frameMessage(Buffer.from('abc')), Buffer.from([0, 0, 0, 0, 3, 0x61, 0x62, 0x63]));
  assert.deepStrictEqual(frameMessage(Buffer.alloc(0)), Buffer.from([0, 0, 0, 0, 0]));
});

test('one message in one chunk comes back without a copy; an empty message is a message', () => {
  const framed = frameMessage(Buffer.from('hello'));
  const msg = readAll([framed]);
  assert.equal(msg.toString(), 'hello');
  assert.equal(msg.buffer, framed.buffer, 'a view into the chunk');
  assert.equal(readAll([prefix(0, 0)]).length, 0);
});

test('refusals carry the status to answer with', () => {
  assert.equal(codeOf(() => readAll([])), GrpcStatus.INTERNAL, 'no message');
  assert.equal(codeOf(() => readAll([prefix(0, 3)])), GrpcStatus.INTERNAL, 'incomplete');
  assert.equal(codeOf(() => readAll([Buffer.from([0, 0])])), GrpcStatus.INTERNAL, 'half a prefix');
  assert.equal(codeOf(() => readAll([prefix(1, 1), Buffer.from('x')])), GrpcStatus.UNIMPLEMENTED, 'compressed');
  assert.equal(codeOf(() => readAll([prefix(2, 1), Buffer.from('x')])), GrpcStatus.INTERNAL, 'bad flag');
  assert.equal(codeOf(() => readAll([frameMessage(Buffer.from('a')), frameMessage(Buffer.from('b'))])), GrpcStatus.INTERNAL, 'two messages');
  assert.equal(codeOf(() => readAll([Buffer.concat([frameMessage(Buffer.from('a')), Buffer.from([0])])])), GrpcStatus.INTERNAL, 'trailing byte');
});

test('an oversized message is refused from its prefix, before its body arrives', () => {
  const r = new UnaryRequestReader(16);
  assert.equal(codeOf(() => r.push(prefix(0, 17))), GrpcStatus.RESOURCE_EXHAUSTED);
  assert.equal(codeOf(() => new UnaryRequestReader(16).push(prefix(0, 0xffffffff))), GrpcStatus.RESOURCE_EXHAUSTED);
  assert.equal(readAll([frameMessage(Buffer.alloc(16))], 16).length, 16, 'exactly the cap is fine');
});

test('property: any split of a valid frame into chunks yields the message', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat({ max: 320 }), { maxLength: 8 }), (bytes, cuts) => {
      const framed = frameMessage(Buffer.from(bytes));
      const points = [...new Set(cuts.map((c) => c % (framed.length + 1)))].sort((a, b) => a - b);
      const chunks: Buffer[] = [];
      let at = 0;
      for (const p of [...points, framed.length]) {
        chunks.push(framed.subarray(at, p));
        at = p;
      }
      assert.deepStrictEqual(readAll(chunks, 300), Buffer.from(bytes));
    }),
    { numRuns: 500 },
  );
});

test('property: arbitrary chunks either yield a message within the cap or a FrameError, never anything else', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 }), fc.nat({ max: 64 }), (chunks, max) => {
      const r = new UnaryRequestReader(max);
      try {
        for (const c of chunks) r.push(Buffer.from(c));
        const msg = r.end();
        assert.ok(msg.length <= max);
      } catch (err) {
        assert.ok(err instanceof FrameError, String(err));
      }
    }),
    { numRuns: 1000 },
  );
});

test('grpc-timeout: the grammar (≤ 8 digits and a unit), in milliseconds', () => {
  assert.equal(parseGrpcTimeout('250m'), 250);
  assert.equal(parseGrpcTimeout('1S'), 1000);
  assert.equal(parseGrpcTimeout('2M'), 120_000);
  assert.equal(parseGrpcTimeout('1H'), 3_600_000);
  assert.equal(parseGrpcTimeout('1500u'), 1.5);
  assert.equal(parseGrpcTimeout('99999999n'), 99.999999);
  for (const bad of ['', 'm', '250', '123456789m', '-1m', '1.5S', ' 1S', '1s', '1SS', '１S', '0x1S']) {
    assert.equal(parseGrpcTimeout(bad), undefined, JSON.stringify(bad));
  }
});
