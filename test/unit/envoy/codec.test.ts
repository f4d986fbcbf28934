import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import { AuthzGrpcServer } from '../../../src/authz/grpc-server.ts';
import type { Allow } from '../../../src/core/decision.ts';
import { deny } from '../../../src/core/decision.ts';
import { MAX_HEADER_LINES, decodeCheckRequest, encodeCheckResponse, encodeCheckResponseFrame } from '../../../src/envoy/codec.ts';
import { frameMessage } from '../../../src/grpc/framing.ts';
import { WireError } from '../../../src/envoy/wire.ts';
import type { CheckRequest, CheckResponse, HeaderValueOption, StructValue } from '../../../src/envoy/check-types.ts';
import { clientConstructor, services } from '../../../src/envoy/proto.ts';
import { toCheckResponse } from '../../../src/envoy/respond.ts';
import { checkRequestObject } from '../../bench/lib/check-request.ts';
import { principal } from '../../support/fixtures.ts';

// ---------------------------------------------------------------------------------------------
// Oracles: protobufjs through @grpc/proto-loader, with the sidecar's loader options.

const PB = services().authorization['Check']!;
const pbDecode = (b: Buffer): Record<string, unknown> => PB.requestDeserialize(b) as Record<string, unknown>;
const pbEncode = (o: object): Buffer => PB.requestSerialize(o);
const pbDecodeResponse = (b: Buffer): Record<string, unknown> => PB.responseDeserialize(b) as Record<string, unknown>;
const pbEncodeResponse = (o: object): Buffer => PB.responseSerialize(o);

const OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, bytes: Buffer, defaults: false, oneofs: true };

type Fields = Record<string, { type: string; id: number; rule?: string; keyType?: string }>;
type MessageType = protoLoader.MessageTypeDefinition<object, object>;
const str = (id: number) => ({ type: 'string', id });
const msg = (type: string, id: number) => ({ type, id });
const strMap = (id: number) => ({ keyType: 'string', type: 'string', id });

/** Exactly the fields check-types.ts declares, at their numbers in proto/ (no oneofs). */
const DECLARED: Record<string, Fields> = {
  CheckRequest: { attributes: msg('AttributeContext', 1) },
  AttributeContext: { source: msg('Peer', 1), destination: msg('Peer', 2), request: msg('Request', 4), context_extensions: strMap(10) },
  Peer: { address: msg('Address', 1), principal: str(4), certificate: str(5) },
  Address: { socket_address: msg('SocketAddress', 1), pipe: msg('Pipe', 2) },
  SocketAddress: { address: str(2), port_value: { type: 'uint32', id: 3 } },
  Pipe: { path: str(1) },
  Request: { http: msg('HttpRequest', 2) },
  HttpRequest: {
    id: str(1), method: str(2), headers: strMap(3), path: str(4), host: str(5), scheme: str(6), query: str(7),
    size: { type: 'int64', id: 9 }, protocol: str(10), body: str(11), raw_body: { type: 'bytes', id: 12 }, header_map: msg('HeaderMap', 13),
  },
  HeaderMap: { headers: { rule: 'repeated', type: 'HeaderValue', id: 1 } },
  HeaderValue: { key: str(1), value: str(2), raw_value: { type: 'bytes', id: 3 } },
};

/**
 * Fields we do not decode: the rest of what proto/ declares, plus fields no .proto here has, of
 * every wire type, some nesting a recursive message.
 */
const EXTRA: Record<string, Fields> = {
  CheckRequest: { x_blob: msg('Blob', 7) },
  AttributeContext: {
    x_fixed64: { type: 'fixed64', id: 3 }, metadata_context: msg('Metadata', 11), tls_session: msg('Tls', 12),
    route_metadata_context: msg('Metadata', 13), x_packed: { rule: 'repeated', type: 'sint32', id: 99 }, x_double: { type: 'double', id: 5000 },
  },
  Peer: { service: str(2), labels: strMap(3), x_fixed32: { type: 'fixed32', id: 15 }, x_blob: msg('Blob', 16) },
  Address: { x_varint: { type: 'uint64', id: 3 } },
  SocketAddress: { protocol: { type: 'int32', id: 1 }, named_port: str(4) },
  Pipe: { mode: { type: 'uint32', id: 2 } },
  Request: { time: msg('Timestamp', 1), x_str: str(300) },
  HttpRequest: { fragment: str(8), x_blob: msg('Blob', 14), x_sint64: { type: 'sint64', id: 20 } },
  HeaderMap: { x_bytes: { type: 'bytes', id: 2 } },
  HeaderValue: { x_bool: { type: 'bool', id: 4 }, x_sfixed64: { type: 'sfixed64', id: 2047 } },
};
const AUX: Record<string, Fields> = {
  Blob: { n: { type: 'int64', id: 1 }, s: str(2), f: { type: 'fixed32', id: 3 }, d: { type: 'double', id: 4 }, child: msg('Blob', 5) },
  Tls: { sni: str(1) },
  // Wire-compatible with google.protobuf.Timestamp, envoy.config.core.v3.Metadata and Struct.
  Timestamp: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } },
  Metadata: { filter_metadata: { keyType: 'string', type: 'MStruct', id: 1 } },
  MStruct: { fields: { keyType: 'string', type: 'MValue', id: 1 } },
  MValue: { number_value: { type: 'double', id: 2 }, string_value: str(3), bool_value: { type: 'bool', id: 4 }, struct_value: msg('MStruct', 5) },
};

function schema(pkg: string, parts: Array<Record<string, Fields>>): Record<string, MessageType> {
  const nested: Record<string, { fields: Fields }> = {};
  for (const part of parts) for (const [name, fields] of Object.entries(part)) nested[name] = { fields: { ...nested[name]?.fields, ...fields } };
  const def = protoLoader.fromJSON({ nested: { [pkg]: { nested } } } as Parameters<typeof protoLoader.fromJSON>[0], OPTIONS);
  const out: Record<string, MessageType> = {};
  for (const name of Object.keys(nested)) out[name] = def[`${pkg}.${name}`] as MessageType;
  return out;
}

/** protobufjs with only the declared fields: skips everything else just as our decoder does. */
const declared = schema('declared', [DECLARED]).CheckRequest!;
/** protobufjs with more fields than we decode: encodes "richer" requests. */
const rich = schema('rich', [DECLARED, EXTRA, AUX]).CheckRequest!;

/** Which properties check-types.ts declares, per message: the projection of protobufjs's objects. */
type Spec = { [k: string]: true | Spec | [Spec] };
const HEADER_VALUE: Spec = { key: true, value: true, raw_value: true };
const PEER: Spec = { address: { socket_address: { address: true, port_value: true }, pipe: { path: true } }, principal: true, certificate: true };
const REQUEST_SPEC: Spec = {
  attributes: {
    source: PEER,
    destination: PEER,
    request: {
      http: {
        id: true, method: true, headers: true, path: true, host: true, scheme: true, query: true, size: true,
        protocol: true, body: true, raw_body: true, header_map: { headers: [HEADER_VALUE] },
      },
    },
    context_extensions: true,
  },
};

/** Set a property as an own data property, even "__proto__". */
function put(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** protobufjs's object restricted to the declared fields (drops oneof names and undecoded fields). */
function restrict(obj: unknown, spec: Spec): unknown {
  const src = obj as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, sub] of Object.entries(spec)) {
    if (!Object.hasOwn(src, k)) continue;
    const v = src[k];
    if (sub === true) put(out, k, v);
    else if (Array.isArray(sub)) put(out, k, (v as unknown[]).map((e) => restrict(e, sub[0])));
    else put(out, k, restrict(v, sub));
  }
  return out;
}

const expected = (bytes: Buffer): unknown => restrict(pbDecode(bytes), REQUEST_SPEC);

/** Our decoder's outcome, and an Error check: anything thrown must be an Error. */
function ours(bytes: Buffer): { ok: true; value: CheckRequest } | { ok: false; error: Error } {
  try {
    return { ok: true, value: decodeCheckRequest(bytes) };
  } catch (e) {
    assert.ok(e instanceof Error, `threw a non-Error: ${String(e)}`);
    return { ok: false, error: e };
  }
}

function theirs(decode: (b: Buffer) => unknown, bytes: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: decode(bytes) };
  } catch {
    return { ok: false };
  }
}

// Hand-built wire bytes, for what protobufjs will not encode.
function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
const bytes = (...parts: Array<number[] | Buffer | number>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : Buffer.from(p))));
/** A length-delimited field: tag, length, body. */
const ld = (tag: number, ...body: Array<number[] | Buffer | number>): Buffer => {
  const b = bytes(...body);
  return bytes(varint(tag), varint(b.length), b);
};
/** Wrap a HttpRequest body in CheckRequest.attributes.request.http. */
const inHttp = (...body: Array<number[] | Buffer | number>): Buffer => ld(0x0a, ld(0x22, ld(0x12, ...body)));
/** Wrap a Peer body in CheckRequest.attributes.source. */
const inSource = (...body: Array<number[] | Buffer | number>): Buffer => ld(0x0a, ld(0x0a, ...body));

// ---------------------------------------------------------------------------------------------
// Arbitraries

const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 16 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 40, maxLength: 160 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 120, maxLength: 400 }) },
);
const int64 = fc.oneof(fc.integer(), fc.constant(0), fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map(String));
const blob = fc.letrec((tie) => ({
  blob: fc.record(
    { n: int64, s: text, f: fc.nat({ max: 0xffffffff }), d: fc.double(), child: fc.option(tie('blob'), { nil: undefined, depthSize: 'small' }) },
    { requiredKeys: [] },
  ),
})).blob;
const buffer = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)) },
  { weight: 1, arbitrary: fc.nat({ max: 9000 }).map((n) => Buffer.alloc(n, 0x62)) },
);
const dict = fc.dictionary(text, text, { maxKeys: 4, noNullPrototype: true });
const metadata = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    fc.record({ number_value: fc.double() }),
    fc.record({ string_value: text }),
    fc.record({ bool_value: fc.boolean() }),
    fc.record({ struct_value: tie('struct') }),
  ),
  struct: fc.record({ fields: fc.dictionary(text, tie('value'), { maxKeys: 3, noNullPrototype: true }) }),
  metadata: fc.record({ filter_metadata: fc.dictionary(text, tie('struct'), { maxKeys: 2, noNullPrototype: true }) }),
})).metadata;
const timestamp = fc.record({ seconds: int64, nanos: fc.integer({ min: 0, max: 999_999_999 }) }, { requiredKeys: [] });
const opt = { requiredKeys: [] as never[] };
const peer = fc.record(
  {
    address: fc.record(
      {
        socket_address: fc.record({ protocol: fc.integer({ min: 0, max: 1 }), address: text, port_value: fc.nat({ max: 0xffffffff }) }, opt),
        pipe: fc.record({ path: text, mode: fc.nat({ max: 0xffffffff }) }, opt),
        x_varint: int64.map((v) => (typeof v === 'string' ? v.replace('-', '') : Math.abs(v))),
      },
      opt,
    ),
    service: text,
    labels: dict,
    principal: text,
    certificate: text,
    x_fixed32: fc.nat({ max: 0xffffffff }),
    x_blob: blob,
  },
  opt,
);
const headerValue = fc.record({ key: text, value: text, raw_value: buffer, x_bool: fc.boolean(), x_sfixed64: int64 }, opt);
const http = fc.record(
  {
    id: text, method: text, headers: dict, path: text, host: text, scheme: text, query: text, fragment: text, size: int64,
    protocol: text, body: text, raw_body: buffer,
    header_map: fc.record({ headers: fc.array(headerValue, { maxLength: 6 }), x_bytes: buffer }, opt),
    x_blob: blob, x_sint64: int64,
  },
  opt,
);
/** A CheckRequest with fields we decode and fields we do not (encoded by the rich schema). */
const richRequest = fc.record(
  {
    attributes: fc.record(
      {
        source: peer, destination: peer, x_fixed64: int64.map((v) => (typeof v === 'string' ? v.replace('-', '') : Math.abs(v))),
        request: fc.record({ time: timestamp, http, x_str: text }, opt),
        context_extensions: dict, metadata_context: metadata, tls_session: fc.record({ sni: text }, opt), route_metadata_context: metadata,
        x_packed: fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 4 }), x_double: fc.double(),
      },
      opt,
    ),
    x_blob: blob,
  },
  opt,
);
const richBytes = richRequest.map((o) => rich.serialize(o));

// ---------------------------------------------------------------------------------------------
// Decoding: equality with protobufjs

test('property: on any valid encoding our decode equals protobufjs restricted to the declared fields', () => {
  fc.assert(
    fc.property(richBytes, (b) => {
      assert.deepStrictEqual(decodeCheckRequest(b), expected(b));
      assert.deepStrictEqual(decodeCheckRequest(b), declared.deserialize(b));
    }),
    { numRuns: 400 },
  );
});

test('property: concatenated encodings (protobuf merge) decode as protobufjs decodes them', () => {
  // Covers a non-repeated message field seen twice (replaced, not merged), repeated scalars
  // (last wins), map entries accumulating and repeated header_map entries.
  fc.assert(
    fc.property(fc.array(richBytes, { minLength: 2, maxLength: 3 }), (parts) => {
      const b = Buffer.concat(parts);
      assert.deepStrictEqual(decodeCheckRequest(b), expected(b));
    }),
    { numRuns: 200 },
  );
});

test('property: any bytes in a string field decode as protobufjs decodes them (invalid UTF-8 included)', () => {
  const raw = fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: 100, maxLength: 200 }).map((u) => u.map((x) => x & 0x7f)));
  fc.assert(
    fc.property(raw, raw, (a, c) => {
      const b = inHttp(ld(0x22, Buffer.from(a)), ld(0x6a, ld(0x0a, ld(0x0a, Buffer.from(c)), ld(0x12, Buffer.from(a)))));
      assert.deepStrictEqual(decodeCheckRequest(b), expected(b));
    }),
  );
});

test('the benchmark CheckRequest decodes as protobufjs decodes it', () => {
  const req = checkRequestObject(`eyJ.${'x'.repeat(700)}.sig`, '9b2d3f4e-1111-4222-8333-944455556666');
  const b = pbEncode(req);
  const got = decodeCheckRequest(b);
  assert.deepStrictEqual(got, expected(b));
  const h = got.attributes?.request?.http;
  assert.equal(h?.method, 'GET');
  assert.equal(h?.path, (req as { attributes: { request: { http: { path: string } } } }).attributes.request.http.path);
  assert.equal(h?.header_map?.headers?.length, 9);
  assert.ok(Buffer.isBuffer(h?.header_map?.headers?.[6]?.raw_value));
  assert.equal(h?.header_map?.headers?.[6]?.raw_value?.toString('latin1'), `Bearer eyJ.${'x'.repeat(700)}.sig`);
  assert.deepStrictEqual(got.attributes?.source, { address: { socket_address: { address: '127.0.0.1', port_value: 51234 } } });
});

test('strings spread over several latin1 windows (a large body between headers) decode exactly', () => {
  const body = Buffer.alloc(10_000, 0x61);
  const headers = Array.from({ length: 300 }, (_, i) => ld(0x0a, ld(0x0a, Buffer.from(`h-${i}`)), ld(0x12, Buffer.from(`v${'é'.repeat(i % 3)}-${i}`))));
  const b = inHttp(ld(0x22, Buffer.from('/a')), ld(0x62, body), ld(0x5a, Buffer.from('ü'.repeat(50))), ld(0x6a, ...headers), ld(0x52, Buffer.from('HTTP/1.1')));
  const got = decodeCheckRequest(b);
  assert.deepStrictEqual(got, expected(b));
  assert.equal(got.attributes?.request?.http?.header_map?.headers?.[299]?.key, 'h-299');
});

// ---------------------------------------------------------------------------------------------
// Decoding: semantics pinned by name (what protobufjs does, and where we differ on purpose)

test('scalars sent with their default value are present, absent ones absent (defaults: false)', () => {
  const b = inHttp(ld(0x12), [0x48, 0x00], ld(0x62));
  const got = decodeCheckRequest(b);
  assert.deepStrictEqual(got, { attributes: { request: { http: { method: '', size: 0, raw_body: Buffer.alloc(0) } } } });
  assert.deepStrictEqual(got, expected(b));
  assert.deepStrictEqual(decodeCheckRequest(Buffer.alloc(0)), {});
  assert.deepStrictEqual(decodeCheckRequest(ld(0x0a, ld(0x0a))), { attributes: { source: {} } });
});

test('map entries: missing key or value is "", the last duplicate wins, "__proto__" is an own key', () => {
  const entry = (...p: Buffer[]) => ld(0x52, ...p);
  const b = ld(0x0a, entry(), entry(ld(0x12, Buffer.from('v'))), entry(ld(0x0a, Buffer.from('k'))), entry(ld(0x0a, Buffer.from('__proto__')), ld(0x12, Buffer.from('x'))), entry(ld(0x0a, Buffer.from('k')), ld(0x12, Buffer.from('2'))));
  const got = decodeCheckRequest(b);
  const ext = got.attributes?.context_extensions;
  assert.ok(ext !== undefined);
  assert.equal(Object.getPrototypeOf(ext), Object.prototype);
  assert.deepStrictEqual(Object.entries(ext), [['', 'v'], ['k', '2'], ['__proto__', 'x']]);
  assert.deepStrictEqual(got, expected(b));
});

test('a non-repeated message field seen twice: the last replaces the first (protobufjs; the spec would merge)', () => {
  const b = ld(0x0a, ld(0x0a, ld(0x0a, ld(0x0a, ld(0x12, Buffer.from('1.2.3.4'))))), ld(0x0a, ld(0x22, Buffer.from('spiffe://b'))));
  assert.deepStrictEqual(decodeCheckRequest(b), { attributes: { source: { principal: 'spiffe://b' } } });
  assert.deepStrictEqual(decodeCheckRequest(b), expected(b));
  // Repeated scalar occurrences of a non-repeated field: last one wins.
  const c = inHttp(ld(0x22, Buffer.from('/first')), ld(0x22, Buffer.from('/second')), [0x48, 5], [0x48, 7]);
  assert.deepStrictEqual(decodeCheckRequest(c).attributes?.request?.http, { path: '/second', size: 7 });
  assert.deepStrictEqual(decodeCheckRequest(c), expected(c));
});

test('both oneof members of Address present: both kept, as protobufjs keeps them', () => {
  const b = inSource(ld(0x0a, ld(0x0a, ld(0x12, Buffer.from('10.0.0.1'))), ld(0x12, ld(0x0a, Buffer.from('/run/s')))));
  assert.deepStrictEqual(decodeCheckRequest(b).attributes?.source?.address, { socket_address: { address: '10.0.0.1' }, pipe: { path: '/run/s' } });
  assert.deepStrictEqual(decodeCheckRequest(b), expected(b));
});

test('int64 size: negative, beyond 2^53 and 10-byte encodings convert to Number as protobufjs does', () => {
  for (const v of [-1n, -(1n << 63n), (1n << 63n) - 1n, (1n << 53n) + 1n, 1234567890123n]) {
    const b = pbEncode({ attributes: { request: { http: { size: String(v) } } } });
    assert.deepStrictEqual(decodeCheckRequest(b), expected(b), String(v));
  }
  assert.equal(decodeCheckRequest(inHttp([0x48, ...varint((1n << 64n) - 1n)])).attributes?.request?.http?.size, -1);
});

test('bytes are views into the input (grpc-js never reuses it); an empty bytes field is a fresh empty Buffer', () => {
  const b = inHttp(ld(0x62, Buffer.from('body')), ld(0x6a, ld(0x0a, ld(0x1a))));
  const h = decodeCheckRequest(b).attributes?.request?.http;
  assert.equal(h?.raw_body?.buffer, b.buffer);
  assert.equal(h?.raw_body?.toString(), 'body');
  assert.deepStrictEqual(h?.header_map?.headers, [{ raw_value: Buffer.alloc(0) }]);
});

test('invalid UTF-8 becomes U+FFFD exactly as protobufjs (Buffer#toString) replaces it', () => {
  const bad = Buffer.from([0x61, 0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x98]);
  const b = inSource(ld(0x22, bad));
  assert.equal(decodeCheckRequest(b).attributes?.source?.principal, bad.toString('utf8'));
  assert.deepStrictEqual(decodeCheckRequest(b), expected(b));
});

// Hostile input: every case throws an Error (WireError), quickly.
const hostile: ReadonlyArray<[string, Buffer]> = [
  ['truncated varint (tag)', Buffer.from([0x80])],
  ['truncated varint (length)', Buffer.from([0x0a, 0x80])],
  ['truncated varint (port_value)', inSource(ld(0x0a, ld(0x0a, [0x18, 0xff])))],
  ['length beyond the buffer', Buffer.from([0x0a, 0x05, 0x0a, 0x00])],
  ['length beyond the enclosing message', ld(0x0a, [0x0a, 0x05, 0x00])],
  ['huge declared length 2^31 with a small buffer', bytes(0x0a, varint(2 ** 31), [0x0a, 0x00])],
  ['huge declared length 2^32 - 1', bytes(0x0a, varint(2 ** 32 - 1), [0x0a, 0x00])],
  ['length varint of 6 bytes', bytes(0x0a, [0x80, 0x80, 0x80, 0x80, 0x80, 0x00])],
  ['11-byte varint in an unknown field', bytes(0x08, Array(10).fill(0xff), 0x01)],
  ['11-byte varint for size', inHttp(0x48, Array(10).fill(0xff), 0x01)],
  ['6-byte varint for port_value', inSource(ld(0x0a, ld(0x0a, [0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])))],
  ['wire type 3 (start group), unknown field', ld(0x0a, [0x1b, 0x08, 0x01, 0x1c])],
  ['wire type 4 (end group)', Buffer.from([0x0c])],
  ['wire type 6', Buffer.from([0x16, 0x00])],
  ['wire type 7', ld(0x0a, [0x1f, 0x00])],
  ['field number 0', ld(0x0a, [0x00, 0x01])],
  ['tag beyond 32 bits', bytes([0x80, 0x80, 0x80, 0x80, 0x10])],
  ['truncated fixed64', bytes(0x09, [1, 2, 3])],
  ['truncated fixed32', ld(0x0a, 0x0d, [1, 2, 3])],
  ['known message field as varint', ld(0x0a, [0x08, 0x00])],
  ['known string field as fixed32', inHttp(0x25, [0x61, 0x62, 0x63, 0x64])],
  ['known varint field as length-delimited', inHttp(ld(0x4a, [0x01]))],
  ['string running past its message', inSource(0x22, 0x0a, [0x61, 0x62])],
  ['map entry running past its map field', ld(0x0a, 0x52, 0x03, ld(0x0a, [0x61, 0x62]))],
  ['deeply nested groups', bytes(Array(5000).fill(0x0b), Array(5000).fill(0x0c))],
];
for (const [name, b] of hostile) {
  test(`hostile: ${name} → Error`, () => {
    const t0 = performance.now();
    assert.throws(() => decodeCheckRequest(b), (e: unknown) => e instanceof Error && e.name === 'WireError');
    assert.ok(performance.now() - t0 < 100);
  });
}

test('hostile: what protobufjs does with the same inputs (documented differences)', () => {
  const pbAccepts = (b: Buffer) => theirs(pbDecode, b).ok;
  // protobufjs also rejects truncation, overruns of the buffer and wire types 4, 6, 7.
  for (const name of ['truncated varint (tag)', 'length beyond the buffer', 'huge declared length 2^31 with a small buffer', 'wire type 4 (end group)', 'wire type 6', 'wire type 7', 'truncated fixed64']) {
    assert.equal(pbAccepts(hostile.find(([n]) => n === name)![1]), false, name);
  }
  // protobufjs skips unknown groups and field 0, reinterprets known fields sent with another wire
  // type, and truncates a string that runs past its message; we reject all of these.
  assert.deepStrictEqual(pbDecode(ld(0x0a, [0x1b, 0x08, 0x01, 0x1c])), { attributes: {} });
  assert.deepStrictEqual(pbDecode(ld(0x0a, [0x00, 0x01])), { attributes: {} });
  assert.deepStrictEqual(pbDecode(ld(0x0a, [0x08, 0x00])), { attributes: { source: {} } });
  assert.deepStrictEqual(pbDecode(inSource(0x22, 0x0a, [0x61, 0x62])), { attributes: { source: { principal: 'ab' } } });
  // Deeply nested groups: protobufjs stops at its recursion limit (100).
  assert.equal(pbAccepts(bytes(Array(5000).fill(0x0b), Array(5000).fill(0x0c))), false);
  // A malformed field we do not decode (tls_session, truncated inside): protobufjs rejects it,
  // we skip it unread. Envoy never sends one; nothing reads it.
  const tls = ld(0x0a, ld(0x62, [0x0a, 0x80]));
  assert.equal(pbAccepts(tls), false);
  assert.deepStrictEqual(decodeCheckRequest(tls), { attributes: {} });
});

test('deeply nested unknown length-delimited fields are skipped without being looked into', () => {
  let inner: Buffer = Buffer.from([0x08, 0x01]);
  for (let i = 0; i < 2000; i++) inner = ld(0x3a, inner); // field 7: not declared anywhere
  const b = Buffer.concat([inner, ld(0x0a, ld(0x0a, ld(0x22, Buffer.from('p'))))]);
  const t0 = performance.now();
  assert.deepStrictEqual(decodeCheckRequest(b), { attributes: { source: { principal: 'p' } } });
  assert.ok(performance.now() - t0 < 100);
  assert.deepStrictEqual(decodeCheckRequest(b), expected(b));
});

test('more header lines than MAX_HEADER_LINES are refused before they become objects (protobufjs has no bound)', () => {
  const lines = (n: number): Buffer => pbEncode({ attributes: { request: { http: { header_map: { headers: Array.from({ length: n }, () => ({})) } } } } });
  const ok = decodeCheckRequest(lines(MAX_HEADER_LINES)) as { attributes: { request: { http: { header_map: { headers: unknown[] } } } } };
  assert.equal(ok.attributes.request.http.header_map.headers.length, MAX_HEADER_LINES);
  assert.throws(() => decodeCheckRequest(lines(MAX_HEADER_LINES + 1)), WireError);
});

test('a non-Buffer input is a TypeError', () => {
  assert.throws(() => decodeCheckRequest(new Uint8Array(2) as Buffer), TypeError);
});

// ---------------------------------------------------------------------------------------------
// Decoding: arbitrary and mutated input

/** Either both reject, or ours returns what protobufjs (declared fields only) returns. */
function agreesOnHostile(b: Buffer): void {
  const t0 = performance.now();
  const mine = ours(b);
  assert.ok(performance.now() - t0 < 250, 'decode took too long');
  const pb = theirs(declared.deserialize, b);
  if (mine.ok) {
    assert.ok(pb.ok, 'we accepted what protobufjs rejects');
    assert.deepStrictEqual(mine.value, pb.value);
  } else {
    assert.equal(mine.error.name, 'WireError', mine.error.message);
  }
  if (!pb.ok) assert.equal(mine.ok, false, 'protobufjs rejected what we accepted');
}

test('property: arbitrary bytes → a result equal to protobufjs, or an Error; protobufjs rejections are ours too', () => {
  const prefix = fc.constantFrom(Buffer.alloc(0), Buffer.from([0x0a]), Buffer.from([0x0a, 0x7f, 0x22, 0x7d, 0x12, 0x7b]));
  fc.assert(
    fc.property(prefix, fc.uint8Array({ maxLength: 300 }), (p, u) => agreesOnHostile(Buffer.concat([p, Buffer.from(u)]))),
    { numRuns: 2000 },
  );
});

type Mutation = { kind: 'set'; at: number; value: number } | { kind: 'cut'; at: number } | { kind: 'insert'; at: number; value: Uint8Array } | { kind: 'delete'; at: number; n: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }),
);
function mutate(b: Buffer, ms: Mutation[]): Buffer {
  let out: Buffer = Buffer.from(b);
  for (const m of ms) {
    const at = out.length === 0 ? 0 : m.at % out.length;
    if (m.kind === 'set' && out.length > 0) out[at] = m.value;
    else if (m.kind === 'cut') out = out.subarray(0, at);
    else if (m.kind === 'insert') out = Buffer.concat([out.subarray(0, at), Buffer.from(m.value), out.subarray(at)]);
    else if (m.kind === 'delete') out = Buffer.concat([out.subarray(0, at), out.subarray(at + (m as { n: number }).n)]);
  }
  return out;
}

test('property: mutated valid encodings → a result equal to protobufjs, or an Error; protobufjs rejections are ours too', () => {
  fc.assert(
    fc.property(richBytes, fc.array(mutation, { minLength: 1, maxLength: 3 }), (b, ms) => agreesOnHostile(mutate(b, ms))),
    { numRuns: 1500 },
  );
});

// ---------------------------------------------------------------------------------------------
// Encoding

const APPEND = ['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS'] as const;
const HTTP_NAMES = [
  'Empty', 'OK', 'BadRequest', 'Unauthorized', 'Forbidden', 'NotFound', 'MethodNotAllowed', 'PayloadTooLarge', 'URITooLong',
  'UnsupportedMediaType', 'UnprocessableEntity', 'TooManyRequests', 'RequestHeaderFieldsTooLarge', 'InternalServerError',
  'ServiceUnavailable', 'GatewayTimeout',
];

const headerOption: fc.Arbitrary<HeaderValueOption> = fc.record({ header: fc.record({ key: text, value: text }), append_action: fc.constantFrom(...APPEND) });
const structFields = fc.letrec<{ value: StructValue; fields: Record<string, StructValue> }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    fc.record({ stringValue: text }),
    fc.record({ numberValue: fc.oneof(fc.double(), fc.integer(), fc.constantFrom(0, -0, 2 ** 53 + 2, -1e308, Number.MIN_VALUE)) }),
    fc.record({ boolValue: fc.boolean() }),
    fc.record({ structValue: fc.record({ fields: tie('fields') }) }),
  ),
  fields: fc.dictionary(text, tie('value'), { maxKeys: 4, noNullPrototype: true }),
})).fields;
const arr = <T>(a: fc.Arbitrary<T>) => fc.array(a, { maxLength: 5 });
const denied = fc.record({
  status: fc.record({ code: fc.constantFrom(...HTTP_NAMES) }),
  headers: arr(headerOption),
  body: fc.oneof({ weight: 5, arbitrary: text }, { weight: 1, arbitrary: fc.nat({ max: 40_000 }).map((n) => 'é'.repeat(n)) }),
});
const ok = fc.record({
  headers: arr(headerOption),
  headers_to_remove: arr(text),
  response_headers_to_add: arr(headerOption),
  query_parameters_to_set: arr(fc.record({ key: text, value: text })),
  query_parameters_to_remove: arr(text),
});
const checkResponse: fc.Arbitrary<CheckResponse> = fc
  .record({
    status: fc.record({ code: fc.oneof(fc.constant(0), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })), message: text }, { requiredKeys: ['code'] }),
    http: fc.oneof(fc.constant({}), denied.map((d) => ({ denied_response: d })), ok.map((o) => ({ ok_response: o }))),
    metadata: fc.option(structFields.map((fields) => ({ fields })), { nil: undefined }),
  })
  .map(({ status, http, metadata }) => ({ status, ...http, ...(metadata === undefined ? {} : { dynamic_metadata: metadata }) }));

/** protobufjs's decoded object without the oneof names it adds (http_response, Value.kind). */
function withoutOneofNames(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutOneofNames);
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (k !== 'http_response' && k !== 'kind') put(out, k, withoutOneofNames(x));
  return out;
}

/** The input as protobufjs gives it back: empty repeated fields and empty Struct maps vanish. */
function normalised(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalised);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (Array.isArray(x) && x.length === 0) continue;
    if (k === 'fields' && Object.keys(x as object).length === 0) continue;
    put(out, k, normalised(x));
  }
  return out;
}

test('property: our encoding decodes (protobufjs) to the input, normalised, and to what protobufjs\'s own encoding decodes to', () => {
  fc.assert(
    fc.property(checkResponse, (res) => {
      const mine = encodeCheckResponse(res);
      const back = pbDecodeResponse(mine);
      assert.deepStrictEqual(back, pbDecodeResponse(pbEncodeResponse(res)));
      assert.deepStrictEqual(withoutOneofNames(back), normalised(res));
    }),
    { numRuns: 500 },
  );
});

test('property: for valid responses our bytes are the bytes protobufjs writes', () => {
  fc.assert(fc.property(checkResponse, (res) => assert.deepStrictEqual(encodeCheckResponse(res), pbEncodeResponse(res))), { numRuns: 300 });
});

test('property: the framed encoding is the gRPC prefix plus the same bytes, with the scratch buffer reused safely', () => {
  fc.assert(
    fc.property(checkResponse, checkResponse, (a, b) => {
      const fa = encodeCheckResponseFrame(a);
      const fb = encodeCheckResponseFrame(b);
      // Two results alive at once: neither may alias the Writer's scratch buffer.
      assert.deepStrictEqual(fa, frameMessage(pbEncodeResponse(a)));
      assert.deepStrictEqual(fb, frameMessage(pbEncodeResponse(b)));
    }),
    { numRuns: 200 },
  );
});

test('the responses our pipeline produces (allow and deny) encode to what protobufjs decodes back', () => {
  const allow: Allow = {
    kind: 'allow', reason: 'allowed', principal: principal({ clientId: 'patient-app' }), rule: 'route:patient-read',
    upstreamHeaders: [['x-fhirgate-patient', 'example-patient-1']], query: { set: [['_count', '50']], remove: ['_include'] },
    obligations: [], patients: [], breakGlass: true,
  };
  const responses = [
    toCheckResponse(allow, 'rid-1', ['accept', 'x-fhirgate-evil']),
    toCheckResponse(deny('token_expired', 'authenticate', { rule: 'route:patient-read' }), 'rid-2'),
    toCheckResponse(deny('scope_insufficient', 'authorize', { rule: 'r', requiredScope: 'patient/Observation.rs' }), 'rid-3'),
  ];
  for (const res of responses) {
    const back = pbDecodeResponse(encodeCheckResponse(res));
    assert.deepStrictEqual(back, pbDecodeResponse(pbEncodeResponse(res)));
    assert.deepStrictEqual(withoutOneofNames(back), normalised(res));
  }
  assert.equal((pbDecodeResponse(encodeCheckResponse(responses[1]!)) as { denied_response: { status: { code: string } } }).denied_response.status.code, 'Unauthorized');
});

const okWith = (h: Partial<HeaderValueOption>): CheckResponse => ({
  status: { code: 0 },
  ok_response: { headers: [h as HeaderValueOption], headers_to_remove: [], response_headers_to_add: [], query_parameters_to_set: [], query_parameters_to_remove: [] },
});

test('an unknown or missing enum name throws (protobufjs would silently leave the field out)', () => {
  const bogus = okWith({ header: { key: 'a', value: 'b' }, append_action: 'BOGUS' as never });
  assert.throws(() => encodeCheckResponse(bogus), /unknown append_action BOGUS/);
  assert.equal((pbDecodeResponse(pbEncodeResponse(bogus)) as { ok_response: { headers: Array<Record<string, unknown>> } }).ok_response.headers[0]!['append_action'], undefined);
  assert.throws(() => encodeCheckResponse(okWith({ header: { key: 'a', value: 'b' } })), /append_action/);
  assert.throws(() => encodeCheckResponse(okWith({ header: { key: 'a', value: 'b' }, append_action: 2 as never })), /append_action/);
  assert.throws(() => encodeCheckResponse(okWith({ header: { key: 'a', value: 'b' }, append_action: 'toString' as never })), /append_action/);
  const denial = (code: string): CheckResponse => ({ status: { code: 7 }, denied_response: { status: { code }, headers: [], body: '' } });
  assert.throws(() => encodeCheckResponse(denial('Teapot')), /unknown HTTP status name Teapot/);
  assert.throws(() => encodeCheckResponse(denial('forbidden')), /unknown HTTP status name/);
  assert.throws(() => encodeCheckResponse({ status: { code: 7 }, denied_response: { headers: [], body: '' } } as unknown as CheckResponse), /HTTP status/);
  assert.deepStrictEqual((pbDecodeResponse(encodeCheckResponse(denial('Forbidden'))) as { denied_response: unknown }).denied_response, { status: { code: 'Forbidden' }, body: '' });
});

test('malformed responses throw instead of being coerced', () => {
  const base = okWith({ header: { key: 'a', value: 'b' }, append_action: 'ADD_IF_ABSENT' });
  const cases: Array<[string, unknown]> = [
    ['both denied_response and ok_response', { ...base, denied_response: { status: { code: 'Forbidden' }, headers: [], body: '' } }],
    ['status missing', { ok_response: base.ok_response }],
    ['status.code not an int32', { ...base, status: { code: 2 ** 31 } }],
    ['status.code fractional', { ...base, status: { code: 1.5 } }],
    ['status.code a string', { ...base, status: { code: '0' } }],
    ['header missing', okWith({ append_action: 'ADD_IF_ABSENT' })],
    ['header value not a string', okWith({ header: { key: 'a', value: 1 as never }, append_action: 'ADD_IF_ABSENT' })],
    ['Struct value of no known kind', { ...base, dynamic_metadata: { fields: { a: { nullValue: 0 } } } }],
    ['Struct value undefined', { ...base, dynamic_metadata: { fields: { a: undefined } } }],
    ['numberValue a string', { ...base, dynamic_metadata: { fields: { a: { numberValue: '1' } } } }],
    ['not an object', null],
  ];
  for (const [name, res] of cases) assert.throws(() => encodeCheckResponse(res as CheckResponse), TypeError, name);
  let deep: StructValue = { boolValue: true };
  for (let i = 0; i < 200; i++) deep = { structValue: { fields: { d: deep } } };
  assert.throws(() => encodeCheckResponse({ ...base, dynamic_metadata: { fields: { d: deep } } }), /nested too deeply/);
  // A cycle is caught by the same bound, not by a stack overflow.
  const cyc: { structValue: { fields: Record<string, StructValue> } } = { structValue: { fields: {} } };
  cyc.structValue.fields['self'] = cyc;
  assert.throws(() => encodeCheckResponse({ ...base, dynamic_metadata: { fields: { c: cyc } } }), /nested too deeply/);
});

test('strings: lone surrogates encode as U+FFFD like Buffer.from; lengths past 127 and 16383 bytes get longer prefixes', () => {
  for (const s of ['\ud800', 'a\udc00b', '\ud83d\ude00', 'x'.repeat(42) + '\ud800', '\u0800'.repeat(42), 'é'.repeat(100), 'z'.repeat(20_000)]) {
    const res: CheckResponse = { status: { code: 0, message: s } };
    const b = encodeCheckResponse(res);
    assert.equal((pbDecodeResponse(b) as { status: { message: string } }).status.message, Buffer.from(s).toString());
  }
});

test('the scratch buffer: a large response, a re-entrant encode and a failed encode leave later encodes intact', () => {
  const small: CheckResponse = { status: { code: 0, message: 'ok' } };
  const smallBytes = encodeCheckResponse(small);
  const big: CheckResponse = { status: { code: 7 }, denied_response: { status: { code: 'Forbidden' }, headers: [], body: 'x'.repeat(3 << 20) } };
  assert.equal((pbDecodeResponse(encodeCheckResponse(big)) as { denied_response: { body: string } }).denied_response.body.length, 3 << 20);
  assert.deepStrictEqual(encodeCheckResponse(small), smallBytes);
  // A getter that encodes another response while ours is being written.
  const tricky = { status: { code: 0 } } as CheckResponse;
  Object.defineProperty(tricky.status, 'message', { enumerable: true, get: () => encodeCheckResponse(small).toString('hex') });
  assert.deepStrictEqual(pbDecodeResponse(encodeCheckResponse(tricky)), { status: { code: 0, message: smallBytes.toString('hex') } });
  assert.throws(() => encodeCheckResponse({ status: { code: 0, message: 5 as never } }), TypeError);
  assert.deepStrictEqual(encodeCheckResponse(small), smallBytes);
});

test('a "__proto__" Struct key is encoded as an ordinary key', () => {
  const fields = JSON.parse('{"__proto__": {"stringValue": "p"}, "a": {"boolValue": false}}') as Record<string, StructValue>;
  const res: CheckResponse = { status: { code: 0 }, dynamic_metadata: { fields } };
  assert.deepStrictEqual(encodeCheckResponse(res), pbEncodeResponse(res));
  assert.deepStrictEqual(Object.keys((withoutOneofNames(pbDecodeResponse(encodeCheckResponse(res))) as { dynamic_metadata: { fields: object } }).dynamic_metadata.fields), ['__proto__', 'a']);
});

// ---------------------------------------------------------------------------------------------
// Through grpc-js

type Unary<Req, Res> = (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => void;
function unary<Req, Res>(client: grpc.Client, req: Req): Promise<Res> {
  const fn = (client as unknown as Record<string, Unary<Req, Res>>)['Check']!.bind(client);
  return new Promise((resolve, reject) => fn(req, (err, res) => (err ? reject(err) : resolve(res))));
}

test('end to end: a Check round trip over loopback uses the codec; a malformed request gets INTERNAL and the server lives on', async () => {
  const seen: CheckRequest[] = [];
  let answer: CheckResponse = toCheckResponse(
    { kind: 'allow', reason: 'allowed', principal: undefined, rule: 'public', upstreamHeaders: [], query: { set: [], remove: [] }, obligations: [], patients: [], breakGlass: false },
    'rid',
  );
  const server = new AuthzGrpcServer({
    address: '127.0.0.1:0',
    ready: () => true,
    handler: {
      check: async (req) => {
        seen.push(req);
        return answer;
      },
    },
  });
  const addr = await server.start();
  const client = new (clientConstructor('authorization'))(addr, grpc.credentials.createInsecure());
  try {
    const req = checkRequestObject('tok', '9b2d3f4e-1111-4222-8333-944455556666');
    const res = await unary<object, Record<string, unknown>>(client, req);
    assert.deepStrictEqual(res, pbDecodeResponse(pbEncodeResponse(answer)));
    // What the handler got is our decoder's object: protobufjs would have added port_specifier
    // and the Address oneof name.
    assert.deepStrictEqual(seen[0], decodeCheckRequest(pbEncode(req)));
    assert.deepStrictEqual(seen[0]?.attributes?.source?.address, { socket_address: { address: '127.0.0.1', port_value: 51234 } });

    // Malformed bytes straight onto the wire: the server turns the decoder's Error into INTERNAL
    // with a fixed message (never the decoder's own text).
    const raw = (b: Buffer) =>
      new Promise<grpc.ServiceError>((resolve, reject) =>
        client.makeUnaryRequest('/envoy.service.auth.v3.Authorization/Check', (x: Buffer) => x, (x: Buffer) => x, b, (err) =>
          err ? resolve(err) : reject(new Error('malformed request was answered'))),
      );
    for (const bad of [Buffer.from([0x0a, 0x80]), Buffer.from([0x0e, 0x00]), bytes(0x0a, varint(2 ** 31), [0x0a, 0x00])]) {
      const err = await raw(bad);
      assert.equal(err.code, grpc.status.INTERNAL);
      assert.equal(err.details, 'malformed request message');
    }
    assert.equal(seen.length, 1);

    // An unencodable response (unknown enum name) also ends as INTERNAL, not a crash.
    answer = okWith({ header: { key: 'a', value: 'b' }, append_action: 'BOGUS' as never });
    await assert.rejects(unary(client, req), (e: grpc.ServiceError) => e.code === grpc.status.INTERNAL && e.details === 'internal error');

    answer = toCheckResponse(deny('credential_missing', 'authenticate'), 'rid');
    const after = await unary<object, { status: { code: number }; denied_response: { status: { code: string } } }>(client, req);
    assert.equal(after.status.code, grpc.status.UNAUTHENTICATED);
    assert.equal(after.denied_response.status.code, 'Unauthorized');
  } finally {
    client.close();
    await server.stop(1000);
  }
});
