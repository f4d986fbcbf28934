/**
 * gRPC message framing (PROTOCOL-HTTP2, "Length-Prefixed-Message"): every message on an HTTP/2
 * stream is a 1-byte Compressed-Flag, a 4-byte big-endian Message-Length, then the message.
 *
 * UnaryRequestReader takes the DATA chunks of one request stream and yields its single message.
 * It is strict: a message longer than the cap is refused from its 5-byte prefix, before anything
 * is buffered; compression (we advertise none), a second message, trailing bytes and a stream that
 * ends early are all errors carrying the gRPC status to answer with. Bytes held never exceed
 * 5 + maxBytes.
 */
import { GrpcStatus } from './status.ts';
import type { GrpcStatusCode } from './status.ts';

export const PREFIX_BYTES = 5;

export class FrameError extends Error {
  override name = 'FrameError';
  readonly code: GrpcStatusCode;

  constructor(code: GrpcStatusCode, message: string) {
    super(message);
    this.code = code;
  }
}

export class UnaryRequestReader {
  readonly #maxBytes: number;
  /** The DATA chunks so far; a request usually arrives in one, so the array is made on the second. */
  #first: Buffer | undefined;
  #more: Buffer[] | undefined;
  #have = 0;
  /** 5 + Message-Length once the prefix has been read; -1 before. */
  #total = -1;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Take one DATA chunk. Throws a FrameError as soon as the stream cannot be a valid request. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.#total >= 0 && this.#have + chunk.length > this.#total) {
      throw new FrameError(GrpcStatus.INTERNAL, 'more than one request message');
    }
    if (this.#first === undefined) this.#first = chunk;
    else (this.#more ??= [this.#first]).push(chunk);
    this.#have += chunk.length;
    if (this.#total < 0 && this.#have >= PREFIX_BYTES) this.#readPrefix();
  }

  /** The stream ended: the one message it carried. Throws a FrameError if there is none. */
  end(): Buffer {
    if (this.#total < 0 || this.#have < this.#total) {
      throw new FrameError(GrpcStatus.INTERNAL, this.#have === 0 ? 'no request message' : 'incomplete request message');
    }
    const all = this.#more === undefined ? this.#first! : Buffer.concat(this.#more, this.#have);
    this.#first = this.#more = undefined;
    return all.subarray(PREFIX_BYTES, this.#total);
  }

  #readPrefix(): void {
    // A prefix split over DATA frames is rare (only a hostile or odd client does it): join once.
    if (this.#first!.length < PREFIX_BYTES) {
      this.#first = Buffer.concat(this.#more!, this.#have);
      this.#more = undefined;
    }
    const head = this.#first!;
    const flag = head[0]!;
    if (flag === 1) throw new FrameError(GrpcStatus.UNIMPLEMENTED, 'compressed messages are not accepted');
    if (flag !== 0) throw new FrameError(GrpcStatus.INTERNAL, 'invalid compressed flag');
    const length = head.readUInt32BE(1);
    if (length > this.#maxBytes) {
      throw new FrameError(GrpcStatus.RESOURCE_EXHAUSTED, `request message larger than ${this.#maxBytes} bytes`);
    }
    this.#total = PREFIX_BYTES + length;
    if (this.#have > this.#total) throw new FrameError(GrpcStatus.INTERNAL, 'more than one request message');
  }
}

/** One message framed for the wire (uncompressed). */
export function frameMessage(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, PREFIX_BYTES);
  return out;
}
