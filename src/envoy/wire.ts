/**
 * wire: the protobuf wire format, only as much of it as the ext_authz codec needs — a
 * bounds-checked Reader (tags, varints, length-delimited fields, skipping fields we do not read)
 * and a Writer that fills a reusable, growable Buffer and back-patches length prefixes.
 *
 * The Reader is strict where protobuf parsers differ: varints longer than 10 bytes; tag, length
 * and uint32 varints longer than 5 bytes or 32 bits; lengths past the enclosing message; field
 * number 0; the group wire types (3, 4) and the undefined ones (6, 7) — all throw a WireError.
 * Nothing it reads sizes an allocation: a length is checked against the bytes present first.
 */

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/** Every malformed input ends in one of these (the transport answers it with a gRPC status). */
export class WireError extends Error {
  override name = 'WireError';
}

/** Strings up to this many bytes may be cut from the latin1 window (see Reader#string). */
const SHORT_STRING = 128;
/** Bytes of input one latin1 window covers. */
const WINDOW = 4096;

export class Reader {
  readonly buf: Buffer;
  pos = 0;
  #window = '';
  #windowStart = 0;
  #windowEnd = -1;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  /**
   * The next field tag (field number << 3 | wire type). Only wire types 0, 1, 2 and 5 are
   * accepted; a tag needs at most 5 bytes and a field number of at least 1.
   */
  tag(): number {
    const buf = this.buf;
    const pos = this.pos;
    // Fast path: field numbers below 16 are one byte.
    if (pos < buf.length && buf[pos]! < 0x80) {
      const t = buf[pos]!;
      this.pos = pos + 1;
      return checkTag(t);
    }
    return checkTag(this.#varint32());
  }

  /**
   * A uint32 field. Encoders write these in at most 5 bytes; a longer (64-bit) encoding is
   * rejected rather than truncated, because protobufjs misreads 6 to 9 byte ones.
   */
  uint32(): number {
    return this.#varint32();
  }

  /** An int64 varint as a Number, exact up to 2^53 (as protobufjs's LongBits.toNumber rounds). */
  int64(): number {
    const buf = this.buf;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new WireError('truncated varint');
      const b = buf[pos++]!;
      const bits = b & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= bits << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if (b < 0x80) {
        this.pos = pos;
        return (hi | 0) * 4294967296 + (lo >>> 0);
      }
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /**
   * The length prefix of a length-delimited field: returns where the field's bytes end after
   * checking they lie inside `end` (the enclosing message's end).
   */
  delimited(end: number): number {
    const len = this.#varint32();
    const stop = this.pos + len;
    if (len > 0x7fffffff || stop > end) throw new WireError('length-delimited field runs past its message');
    return stop;
  }

  /**
   * A UTF-8 string field; invalid sequences become U+FFFD (Buffer#toString, as protobufjs does).
   * Short ASCII strings are cut from a latin1 copy of the next WINDOW input bytes, made once per
   * window: a substring is far cheaper than one native decode per field. Windows never overlap,
   * so all of them together copy at most the input once. (A V8 substring of 13 or more chars
   * keeps its window alive: a retained field pins at most WINDOW bytes, as a bytes view pins the
   * whole input.)
   */
  string(end: number): string {
    const stop = this.delimited(end);
    const buf = this.buf;
    const start = this.pos;
    this.pos = stop;
    if (stop === start) return '';
    if (stop - start > SHORT_STRING) return buf.toString('utf8', start, stop);
    let bits = 0;
    for (let i = start; i < stop; i++) bits |= buf[i]!;
    if (bits >= 0x80) return buf.toString('utf8', start, stop);
    if (stop > this.#windowEnd || start < this.#windowStart) {
      this.#windowStart = start;
      this.#windowEnd = Math.min(start + WINDOW, buf.length);
      this.#window = buf.toString('latin1', start, this.#windowEnd);
    }
    return this.#window.slice(start - this.#windowStart, stop - this.#windowStart);
  }

  /** A bytes field, as a view into the input (the caller owns the input; see codec.ts). */
  bytes(end: number): Buffer {
    const stop = this.delimited(end);
    const start = this.pos;
    this.pos = stop;
    // protobufjs answers an empty bytes field with a fresh empty Buffer; so do we.
    return stop === start ? Buffer.alloc(0) : this.buf.subarray(start, stop);
  }

  /** Skip one field we do not decode, whatever its (valid) wire type. */
  skip(tag: number, end: number): void {
    switch (tag & 7) {
      case WIRE_VARINT:
        this.#skipVarint();
        return;
      case WIRE_I64:
        this.#fixed(8, end);
        return;
      case WIRE_LEN:
        this.pos = this.delimited(end);
        return;
      case WIRE_I32:
        this.#fixed(4, end);
        return;
      default:
        throw new WireError(`invalid wire type ${tag & 7}`);
    }
  }

  /** The end of a message: every field must have stopped exactly at its boundary. */
  done(end: number): void {
    if (this.pos !== end) throw new WireError('field runs past its message');
  }

  #fixed(n: number, end: number): void {
    if (this.pos + n > end) throw new WireError('truncated fixed-width field');
    this.pos += n;
  }

  /**
   * A varint that must fit 32 bits in at most 5 bytes (tags, lengths, uint32 fields), as its
   * unsigned value.
   */
  #varint32(): number {
    const buf = this.buf;
    let pos = this.pos;
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= buf.length) throw new WireError('truncated varint');
      const b = buf[pos++]!;
      value |= (b & 0x7f) << shift;
      if (b < 0x80) {
        // The fifth byte may only carry bits 28-31.
        if (shift === 28 && b > 0x0f) break;
        this.pos = pos;
        return value >>> 0;
      }
    }
    throw new WireError('varint exceeds 32 bits');
  }

  /** Step over a varint of any value: at most 10 bytes. */
  #skipVarint(): void {
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new WireError('truncated varint');
      if (buf[pos++]! < 0x80) {
        this.pos = pos;
        return;
      }
    }
    throw new WireError('varint longer than 10 bytes');
  }
}

function checkTag(tag: number): number {
  const wt = tag & 7;
  if (tag < 8) throw new WireError('field number 0');
  if (wt !== WIRE_VARINT && wt !== WIRE_I64 && wt !== WIRE_LEN && wt !== WIRE_I32) {
    throw new WireError(`invalid wire type ${wt}`);
  }
  return tag;
}

/** Largest scratch buffer a Writer keeps between encodes; anything bigger is dropped after use. */
const KEEP_BYTES = 1 << 20;

export class Writer {
  buf: Buffer;
  pos = 0;

  constructor(initial = 4096) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  /** Make room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.#grow(n);
  }

  /** One byte (a tag of a field numbered below 16, or a small enum/bool). */
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** An unsigned 32-bit varint. */
  uint32(v: number): void {
    this.ensure(5);
    const buf = this.buf;
    let pos = this.pos;
    while (v > 0x7f) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  /** An int32 varint: negative values are sign-extended to 64 bits (10 bytes), as protobuf says. */
  int32(v: number): void {
    if (v >= 0) {
      this.uint32(v);
      return;
    }
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    let lo = v >>> 0;
    for (let i = 0; i < 4; i++) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    // Byte 5 holds bits 28-31 of lo and bits 0-2 of the all-ones high word; then five more.
    buf[pos++] = lo | 0x70 | 0x80;
    for (let i = 0; i < 4; i++) buf[pos++] = 0xff;
    buf[pos++] = 0x01;
    this.pos = pos;
  }

  /** A little-endian IEEE 754 double (wire type 1). */
  double(v: number): void {
    this.ensure(8);
    this.pos = this.buf.writeDoubleLE(v, this.pos);
  }

  /** A length-prefixed UTF-8 string; lone surrogates become U+FFFD (as Buffer.from does). */
  string(s: string): void {
    const n = s.length;
    if (n <= 42) {
      // At most 3 bytes per UTF-16 unit: the length fits the one prefix byte we reserve.
      this.ensure(1 + 3 * n);
      const buf = this.buf;
      const at = this.pos;
      let pos = at + 1;
      for (let i = 0; i < n; i++) {
        let c = s.charCodeAt(i);
        if (c < 0x80) {
          buf[pos++] = c;
          continue;
        }
        if (c < 0x800) {
          buf[pos++] = 0xc0 | (c >> 6);
          buf[pos++] = 0x80 | (c & 0x3f);
          continue;
        }
        if (c >= 0xd800 && c < 0xe000) {
          const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
          if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
            c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            i++;
            buf[pos++] = 0xf0 | (c >> 18);
            buf[pos++] = 0x80 | ((c >> 12) & 0x3f);
            buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
            buf[pos++] = 0x80 | (c & 0x3f);
            continue;
          }
          c = 0xfffd;
        }
        buf[pos++] = 0xe0 | (c >> 12);
        buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
        buf[pos++] = 0x80 | (c & 0x3f);
      }
      buf[at] = pos - at - 1;
      this.pos = pos;
      return;
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.uint32(len);
    this.ensure(len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }

  /** Start a length-delimited field: reserves one byte for its length, returns where. */
  fork(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Finish the field started at `at`: write its length, moving the body if it needs more bytes. */
  ldelim(at: number): void {
    const len = this.pos - at - 1;
    if (len < 0x80) {
      this.buf[at] = len;
      return;
    }
    let extra = 1;
    while (extra < 4 && len >>> (7 * (extra + 1)) !== 0) extra++;
    this.ensure(extra);
    const buf = this.buf;
    buf.copyWithin(at + 1 + extra, at + 1, this.pos);
    this.pos += extra;
    let v = len;
    let pos = at;
    while (v > 0x7f) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos] = v;
  }

  /** A copy of what was written (the scratch buffer stays with the Writer). */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }

  /** Empty the Writer for reuse, dropping a scratch buffer that one large message grew. */
  reset(): void {
    this.pos = 0;
    if (this.buf.length > KEEP_BYTES) this.buf = Buffer.allocUnsafe(4096);
  }

  #grow(n: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}
