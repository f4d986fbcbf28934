/**
 * codec: a hand-written protobuf codec for the one RPC the sidecar serves, ext_authz Check. It
 * decodes exactly the CheckRequest fields declared in check-types.ts and encodes the CheckResponse
 * shape declared there, producing the same objects (and bytes protobufjs decodes to the same
 * objects) as @grpc/proto-loader with our options (src/envoy/proto.ts), several times faster.
 * Field numbers come from proto/envoy/service/auth/v3/*.proto, proto/envoy/config/core/v3/core.proto,
 * proto/envoy/type/v3/http_status.proto, proto/google/rpc/status.proto and google/protobuf/struct.proto.
 *
 * Decoding follows protobufjs 7 where it is lenient but well-defined, and is stricter where it is
 * not (test/unit/envoy/codec.test.ts pins each point):
 *   - a non-repeated message field seen twice: the last occurrence replaces the earlier one
 *     (protobufjs does not merge, as the protobuf spec says it should);
 *   - both members of a oneof present (Address.socket_address and .pipe): both are kept, as in
 *     protobufjs; the virtual oneof-name properties protobufjs adds are not produced;
 *   - scalars sent with their default value are present ("" / 0); a map entry without key or value
 *     uses ""; a "__proto__" map key becomes an own property; repeated scalars: last one wins;
 *   - bytes (raw_value, raw_body) are views into the input buffer, as protobufjs returns them:
 *     the transport hands the decoder memory it never reuses (src/grpc/framing.ts: a view of
 *     node:http2's DATA chunk, or a fresh concatenation of several);
 *   - stricter than protobufjs, so throws: a known field with the wrong wire type (protobufjs
 *     reinterprets the bytes), a string running past its message (protobufjs truncates it),
 *     groups (protobufjs skips them), field number 0, tag/length/uint32 varints over 5 bytes or
 *     32 bits (protobufjs misreads 6-9 byte ones), varints over 10 bytes. Fields we do not decode
 *     are skipped unread, even ones our .proto declares (protobufjs rejects some malformed
 *     contents there, e.g. a truncated tls_session).
 *
 * Encoding writes every field the object carries, default values included (protobufjs does, and
 * its decoder then gives the object back). Unknown enum names, a missing enum, both
 * denied_response and ok_response, and values of the wrong type throw instead of being coerced.
 */
import type { CheckRequest, CheckResponse, HeaderValue, HeaderValueOption, HttpRequestAttrs, Peer, StructValue } from './check-types.ts';
import { Reader, WireError, Writer } from './wire.ts';

type AttributeContext = NonNullable<CheckRequest['attributes']>;
type Address = NonNullable<Peer['address']>;

// Tags: (field number << 3) | wire type (0 varint, 2 length-delimited, 1 64-bit).
const LEN1 = 0x0a;
const LEN2 = 0x12;
const LEN3 = 0x1a;
const LEN4 = 0x22;
const LEN5 = 0x2a;
const LEN6 = 0x32;
const LEN7 = 0x3a;
const LEN8 = 0x42;

/** Bit n set: field number n is one we decode (so its wire type must be the declared one). */
const fields = (...ns: number[]): number => ns.reduce((m, n) => m | (1 << n), 0);
const CHECK_REQUEST = fields(1);
const ATTRIBUTE_CONTEXT = fields(1, 2, 4, 10);
const PEER = fields(1, 4, 5);
const ADDRESS = fields(1, 2);
const SOCKET_ADDRESS = fields(2, 3);
const PIPE = fields(1);
const REQUEST = fields(2);
const HTTP_REQUEST = fields(1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13);
const HEADER_MAP = fields(1);
const HEADER_VALUE = fields(1, 2, 3);
const MAP_ENTRY = fields(1, 2);

/** Skip a field we do not decode; one we do decode but with another wire type is an error. */
function other(r: Reader, tag: number, end: number, known: number): void {
  const field = tag >>> 3;
  if (field < 32 && (known >>> field) & 1) throw new WireError(`field ${field} has wire type ${tag & 7}`);
  r.skip(tag, end);
}

/**
 * Decode an ext_authz CheckRequest (the gRPC requestDeserialize). Throws an Error on any
 * malformed input; never allocates more than a constant times the input's size.
 */
export function decodeCheckRequest(buf: Buffer): CheckRequest {
  if (!Buffer.isBuffer(buf)) throw new TypeError('CheckRequest must be a Buffer');
  const r = new Reader(buf);
  const end = buf.length;
  const out: CheckRequest = {};
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === LEN1) out.attributes = attributeContext(r, r.delimited(end));
    else other(r, tag, end, CHECK_REQUEST);
  }
  r.done(end);
  return out;
}

function attributeContext(r: Reader, end: number): AttributeContext {
  const out: AttributeContext = {};
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag) {
      case LEN1:
        out.source = peer(r, r.delimited(end));
        break;
      case LEN2:
        out.destination = peer(r, r.delimited(end));
        break;
      case LEN4:
        out.request = request(r, r.delimited(end));
        break;
      case 0x52: // 10: context_extensions
        out.context_extensions = mapEntry(r, r.delimited(end), out.context_extensions);
        break;
      default:
        other(r, tag, end, ATTRIBUTE_CONTEXT);
    }
  }
  r.done(end);
  return out;
}

function peer(r: Reader, end: number): Peer {
  const out: Peer = {};
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag) {
      case LEN1:
        out.address = address(r, r.delimited(end));
        break;
      case LEN4:
        out.principal = r.string(end);
        break;
      case LEN5:
        out.certificate = r.string(end);
        break;
      default:
        other(r, tag, end, PEER);
    }
  }
  r.done(end);
  return out;
}

function address(r: Reader, end: number): Address {
  const out: Address = {};
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === LEN1) out.socket_address = socketAddress(r, r.delimited(end));
    else if (tag === LEN2) out.pipe = pipe(r, r.delimited(end));
    else other(r, tag, end, ADDRESS);
  }
  r.done(end);
  return out;
}

function socketAddress(r: Reader, end: number): NonNullable<Address['socket_address']> {
  const out: NonNullable<Address['socket_address']> = {};
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === LEN2) out.address = r.string(end);
    else if (tag === 0x18) out.port_value = r.uint32(); // 3: port_value, varint
    else other(r, tag, end, SOCKET_ADDRESS);
  }
  r.done(end);
  return out;
}

function pipe(r: Reader, end: number): { path?: string } {
  const out: { path?: string } = {};
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === LEN1) out.path = r.string(end);
    else other(r, tag, end, PIPE);
  }
  r.done(end);
  return out;
}

function request(r: Reader, end: number): { http?: HttpRequestAttrs } {
  const out: { http?: HttpRequestAttrs } = {};
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === LEN2) out.http = httpRequest(r, r.delimited(end));
    else other(r, tag, end, REQUEST);
  }
  r.done(end);
  return out;
}

function httpRequest(r: Reader, end: number): HttpRequestAttrs {
  const out: HttpRequestAttrs = {};
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag) {
      case LEN1:
        out.id = r.string(end);
        break;
      case LEN2:
        out.method = r.string(end);
        break;
      case LEN3:
        out.headers = mapEntry(r, r.delimited(end), out.headers);
        break;
      case LEN4:
        out.path = r.string(end);
        break;
      case LEN5:
        out.host = r.string(end);
        break;
      case LEN6:
        out.scheme = r.string(end);
        break;
      case LEN7:
        out.query = r.string(end);
        break;
      case 0x48: // 9: size, int64 varint
        out.size = r.int64();
        break;
      case 0x52: // 10
        out.protocol = r.string(end);
        break;
      case 0x5a: // 11
        out.body = r.string(end);
        break;
      case 0x62: // 12
        out.raw_body = r.bytes(end);
        break;
      case 0x6a: // 13
        out.header_map = headerMap(r, r.delimited(end));
        break;
      default:
        other(r, tag, end, HTTP_REQUEST);
    }
  }
  r.done(end);
  return out;
}

/**
 * Header lines one CheckRequest may carry. Envoy's own default cap is 100 and ingest's is 200; the
 * decoder's bound only stops a hostile 4 MiB message of empty 2-byte entries from becoming two
 * million objects before ingest can refuse it (protobufjs has no such bound).
 */
export const MAX_HEADER_LINES = 4096;

function headerMap(r: Reader, end: number): { headers?: HeaderValue[] } {
  const out: { headers?: HeaderValue[] } = {};
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === LEN1) {
      const headers = (out.headers ??= []);
      if (headers.length >= MAX_HEADER_LINES) throw new WireError(`more than ${MAX_HEADER_LINES} header lines`);
      headers.push(headerValue(r, r.delimited(end)));
    } else other(r, tag, end, HEADER_MAP);
  }
  r.done(end);
  return out;
}

function headerValue(r: Reader, end: number): HeaderValue {
  const out: HeaderValue = {};
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === LEN1) out.key = r.string(end);
    else if (tag === LEN2) out.value = r.string(end);
    else if (tag === LEN3) out.raw_value = r.bytes(end);
    else other(r, tag, end, HEADER_VALUE);
  }
  r.done(end);
  return out;
}

/** One map<string, string> entry, added to `into` (created on the first entry). */
function mapEntry(r: Reader, end: number, into: Record<string, string> | undefined): Record<string, string> {
  let key = '';
  let value = '';
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === LEN1) key = r.string(end);
    else if (tag === LEN2) value = r.string(end);
    else other(r, tag, end, MAP_ENTRY);
  }
  r.done(end);
  const map = into ?? {};
  if (key === '__proto__') Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
  else map[key] = value;
  return map;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** envoy.config.core.v3.HeaderValueOption.HeaderAppendAction (core.proto). */
const APPEND_ACTIONS: ReadonlyMap<string, number> = new Map([
  ['APPEND_IF_EXISTS_OR_ADD', 0],
  ['ADD_IF_ABSENT', 1],
  ['OVERWRITE_IF_EXISTS_OR_ADD', 2],
  ['OVERWRITE_IF_EXISTS', 3],
]);

/** envoy.type.v3.StatusCode (http_status.proto). */
const HTTP_STATUS: ReadonlyMap<string, number> = new Map([
  ['Empty', 0],
  ['OK', 200],
  ['BadRequest', 400],
  ['Unauthorized', 401],
  ['Forbidden', 403],
  ['NotFound', 404],
  ['MethodNotAllowed', 405],
  ['PayloadTooLarge', 413],
  ['URITooLong', 414],
  ['UnsupportedMediaType', 415],
  ['UnprocessableEntity', 422],
  ['TooManyRequests', 429],
  ['RequestHeaderFieldsTooLarge', 431],
  ['InternalServerError', 500],
  ['ServiceUnavailable', 503],
  ['GatewayTimeout', 504],
]);

/** Struct nesting accepted on encode (protobufjs's recursion limit). */
const MAX_STRUCT_DEPTH = 100;

/** One Writer kept for reuse; an encode that finds it taken (re-entered) uses its own. */
let spare: Writer | undefined = new Writer();

/** Encode an ext_authz CheckResponse: the message bytes. Throws on an invalid object. */
export function encodeCheckResponse(res: CheckResponse): Buffer {
  return encode(res, false);
}

/**
 * The same, framed for gRPC: the 5-byte message prefix (uncompressed, big-endian length) and the
 * message in one Buffer, so the transport writes it without another copy.
 */
export function encodeCheckResponseFrame(res: CheckResponse): Buffer {
  return encode(res, true);
}

function encode(res: CheckResponse, framed: boolean): Buffer {
  const w = spare ?? new Writer(1024);
  spare = undefined;
  try {
    if (framed) {
      w.ensure(5);
      w.pos = 5;
    }
    checkResponse(w, res);
    const out = w.finish();
    if (framed) {
      out[0] = 0;
      out.writeUInt32BE(out.length - 5, 1);
    }
    return out;
  } finally {
    w.reset();
    spare = w;
  }
}

function checkResponse(w: Writer, res: CheckResponse): void {
  if (res === null || typeof res !== 'object') throw new TypeError('CheckResponse must be an object');
  const status = res.status;
  if (status === null || typeof status !== 'object') throw new TypeError('CheckResponse.status is required');
  w.byte(LEN1);
  let at = w.fork();
  w.byte(0x08);
  w.int32(int32(status.code, 'status.code'));
  if (status.message != null) {
    w.byte(LEN2);
    w.string(str(status.message, 'status.message'));
  }
  w.ldelim(at);

  const denied = res.denied_response;
  const ok = res.ok_response;
  if (denied != null && ok != null) throw new TypeError('CheckResponse carries both denied_response and ok_response');
  if (denied != null) {
    w.byte(LEN2);
    at = w.fork();
    const code = denied.status?.code;
    const n = typeof code === 'string' ? HTTP_STATUS.get(code) : undefined;
    if (n === undefined) throw new TypeError(`denied_response.status.code: unknown HTTP status name ${String(code)}`);
    w.byte(LEN1);
    const st = w.fork();
    w.byte(0x08);
    w.uint32(n);
    w.ldelim(st);
    headerOptions(w, LEN2, denied.headers);
    if (denied.body != null) {
      w.byte(LEN3);
      w.string(str(denied.body, 'denied_response.body'));
    }
    w.ldelim(at);
  }
  if (ok != null) {
    w.byte(LEN3);
    at = w.fork();
    headerOptions(w, LEN2, ok.headers);
    strings(w, LEN5, ok.headers_to_remove, 'headers_to_remove');
    headerOptions(w, LEN6, ok.response_headers_to_add);
    const qs = ok.query_parameters_to_set;
    if (qs != null) {
      for (let i = 0; i < qs.length; i++) {
        const q = qs[i]!;
        w.byte(LEN7);
        const qa = w.fork();
        w.byte(LEN1);
        w.string(str(q.key, 'query_parameters_to_set.key'));
        w.byte(LEN2);
        w.string(str(q.value, 'query_parameters_to_set.value'));
        w.ldelim(qa);
      }
    }
    strings(w, LEN8, ok.query_parameters_to_remove, 'query_parameters_to_remove');
    w.ldelim(at);
  }
  if (res.dynamic_metadata != null) {
    w.byte(LEN4);
    at = w.fork();
    struct(w, res.dynamic_metadata.fields, 1);
    w.ldelim(at);
  }
}

function headerOptions(w: Writer, tag: number, list: HeaderValueOption[] | undefined): void {
  if (list == null) return;
  for (let i = 0; i < list.length; i++) {
    const o = list[i]!;
    const h = o.header;
    if (h == null) throw new TypeError('HeaderValueOption.header is required');
    const action = APPEND_ACTIONS.get(o.append_action);
    if (action === undefined) throw new TypeError(`unknown append_action ${String(o.append_action)}`);
    w.byte(tag);
    const at = w.fork();
    w.byte(LEN1);
    const hv = w.fork();
    w.byte(LEN1);
    w.string(str(h.key, 'header.key'));
    w.byte(LEN2);
    w.string(str(h.value, 'header.value'));
    w.ldelim(hv);
    w.byte(0x18); // 3: append_action, enum varint
    w.byte(action);
    w.ldelim(at);
  }
}

function strings(w: Writer, tag: number, list: string[] | undefined, what: string): void {
  if (list == null) return;
  for (let i = 0; i < list.length; i++) {
    w.byte(tag);
    w.string(str(list[i], what));
  }
}

/** google.protobuf.Struct: map<string, Value> fields = 1, one entry {key = 1, value = 2} per key. */
function struct(w: Writer, fields: Record<string, StructValue> | undefined, depth: number): void {
  if (fields == null) return;
  if (depth > MAX_STRUCT_DEPTH) throw new TypeError('Struct nested too deeply');
  const keys = Object.keys(fields);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    w.byte(LEN1);
    const entry = w.fork();
    w.byte(LEN1);
    w.string(key);
    w.byte(LEN2);
    const value = w.fork();
    structValue(w, fields[key]!, depth);
    w.ldelim(value);
    w.ldelim(entry);
  }
}

/** google.protobuf.Value: number_value = 2 (double), string_value = 3, bool_value = 4, struct_value = 5. */
function structValue(w: Writer, v: StructValue, depth: number): void {
  if (v === null || typeof v !== 'object') throw new TypeError('Struct value must be an object');
  const u = v as { stringValue?: unknown; numberValue?: unknown; boolValue?: unknown; structValue?: { fields?: Record<string, StructValue> } };
  if (u.stringValue != null) {
    w.byte(LEN3);
    w.string(str(u.stringValue, 'stringValue'));
  } else if (u.numberValue != null) {
    if (typeof u.numberValue !== 'number') throw new TypeError('numberValue must be a number');
    w.byte(0x11);
    w.double(u.numberValue);
  } else if (u.boolValue != null) {
    if (typeof u.boolValue !== 'boolean') throw new TypeError('boolValue must be a boolean');
    w.byte(0x20);
    w.byte(u.boolValue ? 1 : 0);
  } else if (u.structValue != null) {
    if (typeof u.structValue !== 'object') throw new TypeError('structValue must be an object');
    w.byte(LEN5);
    const at = w.fork();
    struct(w, u.structValue.fields, depth + 1);
    w.ldelim(at);
  } else {
    throw new TypeError('Struct value has none of stringValue, numberValue, boolValue, structValue');
  }
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new TypeError(`${what} must be a string`);
  return v;
}

function int32(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
    throw new TypeError(`${what} must be an int32`);
  }
  return v;
}
