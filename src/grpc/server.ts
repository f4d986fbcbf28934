/**
 * A small gRPC server on node:http2 for the sidecar's own services: unary and server-streaming
 * methods, messages uncompressed, one HTTP/2 stream per call (PROTOCOL-HTTP2).
 *
 * Why not grpc-js's server: a unary Check costs ~100 µs of CPU in grpc-js before any handler runs
 * (call objects, interceptors, metadata, per-call timers); answered straight on node:http2 it costs
 * ~60 µs (test/bench/check.ts, arms `noop` and `noop-h2`). HTTP/2 itself — framing, HPACK, flow
 * control, SETTINGS, GOAWAY, reset-flood limits — is node:http2's (nghttp2), as it is under
 * grpc-js; this module owns only the gRPC layer above it, and is strict there:
 *   - POST only (405), content-type application/grpc[+proto|;…] only (415), unknown method →
 *     UNIMPLEMENTED, a request message over the cap → RESOURCE_EXHAUSTED before it is buffered,
 *     compressed or multiple request messages → an error status (./framing.ts);
 *   - a call ends within its grpc-timeout, or `maxCallMs` when the client sends none: a one-second
 *     sweep answers late calls with DEADLINE_EXCEEDED, so a client that never finishes its request
 *     holds nothing for long;
 *   - at most `maxConcurrentStreams` calls per connection and `maxConnections` connections;
 *   - errors on a stream or session are contained (never an uncaught 'error' event); a handler's
 *     failure becomes INTERNAL with a fixed message, never its text.
 * Graceful stop: no new connections, GOAWAY on each open one, in-flight calls finish, and after a
 * grace period whatever is left is destroyed.
 */
import http2 from 'node:http2';
import type { IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import { rmSync, statSync } from 'node:fs';
import { FrameError, UnaryRequestReader } from './framing.ts';
import { GrpcStatus, encodeGrpcMessage } from './status.ts';
import type { GrpcStatusCode } from './status.ts';
import { parseGrpcTimeout } from './timeout.ts';

/** A unary call in progress: answer it exactly once (later answers are ignored). */
export interface UnaryCall<Res> {
  respond(res: Res): void;
  fail(code: GrpcStatusCode, message: string): void;
}

/** A server-streaming call: write messages, then end; `onClose` fires when the client goes away. */
export interface StreamCall<Res> {
  write(res: Res): void;
  end(code?: GrpcStatusCode, message?: string): void;
  onClose(listener: () => void): void;
}

interface MethodCodec<Req, Res> {
  /** The request message (unframed) → request; throws on a malformed message. */
  readonly decode: (message: Buffer) => Req;
  /** A response → its framed bytes (./framing.ts frameMessage, or an encoder that frames itself). */
  readonly encode: (res: Res) => Buffer;
}

export interface UnaryMethod<Req, Res> extends MethodCodec<Req, Res> {
  readonly kind: 'unary';
  readonly handle: (req: Req, call: UnaryCall<Res>) => void;
}

export interface ServerStreamMethod<Req, Res> extends MethodCodec<Req, Res> {
  readonly kind: 'server-stream';
  readonly handle: (req: Req, call: StreamCall<Res>) => void;
}

// The method table holds methods of every request/response type; each call stays within one.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyMethod = UnaryMethod<any, any> | ServerStreamMethod<any, any>;

export interface GrpcH2ServerOptions {
  /** Cap on one request message, bytes. */
  readonly maxReceiveBytes: number;
  /** Deadline for a call whose client sends no grpc-timeout (server-streaming calls get none). */
  readonly maxCallMs?: number;
  readonly maxConcurrentStreams?: number;
  readonly maxConnections?: number;
}

const OK_HEADERS = { ':status': 200, 'content-type': 'application/grpc' };
const OK_TRAILERS = { 'grpc-status': '0' };
const WAIT_FOR_TRAILERS = { waitForTrailers: true };
const SWEEP_MS = 1000;

function ignore(): void {}

function sendOkTrailers(this: ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

/** application/grpc, optionally followed by "+format" or ";params" (PROTOCOL-HTTP2 Content-Type). */
function isGrpcContentType(value: string | undefined): boolean {
  if (value === undefined || !value.startsWith('application/grpc')) return false;
  const next = value.charCodeAt(16);
  return value.length === 16 || next === 0x2b /* + */ || next === 0x3b /* ; */;
}

/** A trailers-only answer (one HEADERS frame with the status), then the stream is closed. Never throws. */
function answerStatus(stream: ServerHttp2Stream, code: GrpcStatusCode, message: string): void {
  try {
    writeStatus(stream, code, message);
  } catch {
    stream.destroy();
  }
}

function writeStatus(stream: ServerHttp2Stream, code: GrpcStatusCode, message: string): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    // Messages went out already (a server stream): the status goes in trailers.
    if (!stream.writableEnded) {
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) }));
      stream.end();
    }
    return;
  }
  stream.respond(
    { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) },
    { endStream: true },
  );
  closeIfStillSending(stream);
}

/** An HTTP-level refusal for a request that is not gRPC at all. Never throws. */
function answerHttp(stream: ServerHttp2Stream, status: number): void {
  if (stream.destroyed || stream.closed) return;
  try {
    stream.respond({ ':status': status }, { endStream: true });
    closeIfStillSending(stream);
  } catch {
    stream.destroy();
  }
}

/**
 * The answer is complete but the client may still be sending (an oversized or refused request):
 * reset the stream with NO_ERROR, which RFC 9113 §8.1 provides for exactly this, so its data is
 * neither buffered nor waited for.
 */
function closeIfStillSending(stream: ServerHttp2Stream): void {
  if (!stream.readableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

/**
 * The call a stream carries, reached from the stream's listeners through this property. The
 * listeners are shared functions (no closure per call), and a finished call is unhooked from its
 * stream: node:http2 keeps a closed stream reachable for V8's young-generation collector until the
 * next full collection (its native handle is a weakly held, modified API object), and whatever the
 * stream reaches — listeners, our call, the request bytes — would be promoted with it. Cutting the
 * link keeps the old-generation garbage per call to node:http2's own objects.
 */
const CALL = Symbol('fhirgate.grpc.call');
type CallStream = ServerHttp2Stream & { [CALL]?: Call | undefined };

function onStreamData(this: CallStream, chunk: Buffer): void {
  this[CALL]?.requestData(chunk);
}

function onStreamEnd(this: CallStream): void {
  this[CALL]?.requestEnded();
}

function onStreamClose(this: CallStream): void {
  this[CALL]?.streamClosed();
}

class Call implements UnaryCall<unknown>, StreamCall<unknown> {
  readonly #server: GrpcH2Server;
  readonly #stream: CallStream;
  readonly #method: AnyMethod;
  #reader: UnaryRequestReader | undefined;
  readonly deadline: number;
  /** Links in the server's list of pending calls (see PendingCalls). */
  prevPending: Call | undefined;
  nextPending: Call | undefined;
  #done = false;
  #closeListeners: Array<() => void> | undefined;

  constructor(server: GrpcH2Server, stream: ServerHttp2Stream, method: AnyMethod, deadline: number, maxBytes: number) {
    this.#server = server;
    this.#stream = stream;
    this.#method = method;
    this.deadline = deadline;
    this.#reader = new UnaryRequestReader(maxBytes);
    this.#stream[CALL] = this;
    stream.on('data', onStreamData);
    stream.on('end', onStreamEnd);
    // A unary call is forgotten when answered (or at its deadline); a stream may outlive both.
    if (method.kind === 'server-stream') stream.once('close', onStreamClose);
  }

  requestData(chunk: Buffer): void {
    if (this.#done) return;
    try {
      this.#reader!.push(chunk);
    } catch (err) {
      this.fail(err instanceof FrameError ? err.code : GrpcStatus.INTERNAL, err instanceof FrameError ? err.message : 'malformed request');
    }
  }

  /** The client finished sending: decode the one request message and hand it to the method. */
  requestEnded(): void {
    if (this.#done) return;
    let req: unknown;
    try {
      req = this.#method.decode(this.#reader!.end());
    } catch (err) {
      if (err instanceof FrameError) this.fail(err.code, err.message);
      else this.fail(GrpcStatus.INTERNAL, 'malformed request message');
      return;
    }
    this.#reader = undefined;
    try {
      if (this.#method.kind === 'unary') this.#method.handle(req, this);
      else this.#method.handle(req, this);
    } catch {
      this.fail(GrpcStatus.INTERNAL, 'internal error');
    }
  }

  streamClosed(): void {
    const listeners = this.#closeListeners;
    this.#closeListeners = undefined;
    this.#finish();
    if (listeners !== undefined) for (const l of listeners) l();
  }

  respond(res: unknown): void {
    if (this.#done) return;
    this.#finish();
    const stream = this.#stream;
    if (stream.destroyed || stream.closed) return;
    let framed: Buffer;
    try {
      framed = this.#method.encode(res);
    } catch {
      answerStatus(stream, GrpcStatus.INTERNAL, 'internal error');
      return;
    }
    try {
      stream.respond(OK_HEADERS, WAIT_FOR_TRAILERS);
      stream.on('wantTrailers', sendOkTrailers);
      stream.end(framed);
    } catch {
      // The stream went away between the check above and the write (its session was torn down):
      // nothing to answer, and the callers answering a batch of calls must not see a throw.
      stream.destroy();
    }
  }

  write(res: unknown): void {
    const stream = this.#stream;
    if (this.#done || stream.destroyed || stream.closed) return;
    let framed: Buffer;
    try {
      framed = this.#method.encode(res);
    } catch {
      this.fail(GrpcStatus.INTERNAL, 'internal error');
      return;
    }
    try {
      if (!stream.headersSent) stream.respond(OK_HEADERS, WAIT_FOR_TRAILERS);
      stream.write(framed);
    } catch {
      stream.destroy();
    }
  }

  end(code: GrpcStatusCode = GrpcStatus.OK, message = ''): void {
    if (this.#done) return;
    this.#finish();
    const stream = this.#stream;
    if (code === GrpcStatus.OK && stream.headersSent && !stream.destroyed && !stream.closed) {
      try {
        stream.on('wantTrailers', sendOkTrailers);
        stream.end();
      } catch {
        stream.destroy();
      }
      return;
    }
    answerStatus(stream, code, message);
  }

  fail(code: GrpcStatusCode, message: string): void {
    this.end(code === GrpcStatus.OK ? GrpcStatus.INTERNAL : code, message);
  }

  onClose(listener: () => void): void {
    (this.#closeListeners ??= []).push(listener);
  }

  /** Past its deadline (the sweep calls this). */
  expire(): void {
    this.fail(GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded');
  }

  #finish(): void {
    this.#done = true;
    this.#reader = undefined;
    this.#server.forget(this);
    // A stream call stays hooked up until its stream closes (its client may still leave).
    if (this.#method.kind === 'unary' || this.#closeListeners === undefined) this.#stream[CALL] = undefined;
  }
}

/**
 * The calls not yet answered, for the deadline sweep: an intrusive doubly linked list, so adding
 * and removing a call (twice per call) allocates nothing — a Set's hash table would be rebuilt as
 * it grows and shrinks around a handful of entries, and every table is garbage that outlives the
 * calls it held.
 */
class PendingCalls {
  #head: Call | undefined;
  size = 0;

  add(call: Call): void {
    call.nextPending = this.#head;
    if (this.#head !== undefined) this.#head.prevPending = call;
    this.#head = call;
    this.size++;
  }

  remove(call: Call): void {
    if (call.prevPending === undefined && this.#head !== call) return; // not in the list
    if (call.prevPending === undefined) this.#head = call.nextPending;
    else call.prevPending.nextPending = call.nextPending;
    if (call.nextPending !== undefined) call.nextPending.prevPending = call.prevPending;
    call.prevPending = call.nextPending = undefined;
    this.size--;
  }

  /** Calls `fn` for each call whose deadline is at or before `now` (fn may remove it). */
  forEachExpired(now: number, fn: (call: Call) => void): void {
    for (let call = this.#head; call !== undefined; ) {
      const next = call.nextPending;
      if (call.deadline <= now) fn(call);
      call = next;
    }
  }
}

export class GrpcH2Server {
  readonly #opts: Required<GrpcH2ServerOptions>;
  readonly #methods = new Map<string, AnyMethod>();
  readonly #server: http2.Http2Server;
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #calls = new PendingCalls();
  #sweep: NodeJS.Timeout | undefined;
  #socketPath: string | undefined;

  constructor(opts: GrpcH2ServerOptions) {
    this.#opts = { maxCallMs: 30_000, maxConcurrentStreams: 1000, maxConnections: 256, ...opts };
    this.#server = http2.createServer({
      settings: { maxConcurrentStreams: this.#opts.maxConcurrentStreams, maxHeaderListSize: 16 * 1024 },
      maxHeaderListPairs: 64,
      maxSessionMemory: 32,
    });
    this.#server.maxConnections = this.#opts.maxConnections;
    this.#server.on('stream', this.#onStream);
    this.#server.on('session', this.#onSession);
    // A broken connection is that connection's problem: contained, never an uncaught error.
    this.#server.on('sessionError', ignore);
  }

  /** Register a method under its full path, "/package.Service/Method". */
  add(path: string, method: AnyMethod): void {
    if (this.#methods.has(path)) throw new Error(`gRPC method ${path} registered twice`);
    this.#methods.set(path, method);
  }

  /** Calls received and not yet answered. */
  get pendingCalls(): number {
    return this.#calls.size;
  }

  /** Listen on "host:port" or "unix:/path"; resolves to the address bound (port 0 → the real port). */
  async listen(address: string): Promise<string> {
    const server = this.#server;
    const listening = new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.once('listening', () => {
        server.off('error', reject);
        resolve();
      });
    });
    let bound: string;
    if (address.startsWith('unix:')) {
      const socketPath = address.slice('unix:'.length);
      if (socketPath === '') throw new Error('unix: address without a path');
      server.listen(socketPath);
      await listening;
      this.#socketPath = socketPath;
      bound = address;
    } else {
      const colon = address.lastIndexOf(':');
      const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
      const port = Number(address.slice(colon + 1));
      if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid listen address ${address}`);
      server.listen(port, host);
      await listening;
      const info = server.address();
      const actual = typeof info === 'object' && info !== null ? info.port : port;
      bound = `${address.slice(0, colon)}:${actual}`;
    }
    server.on('error', ignore);
    this.#sweep = setInterval(this.#expireLate, SWEEP_MS);
    this.#sweep.unref();
    return bound;
  }

  /**
   * Stop: refuse new connections, send GOAWAY on open ones and let their calls finish; after
   * `graceMs`, destroy whatever is still open.
   */
  async close(graceMs: number): Promise<void> {
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const session of this.#sessions) session.close();
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        for (const session of this.#sessions) session.destroy();
        resolve();
      }, graceMs);
    });
    await Promise.race([closed, forced]);
    clearTimeout(timer);
    for (const session of this.#sessions) session.destroy();
    await closed;
    if (this.#socketPath !== undefined) removeSocket(this.#socketPath);
  }

  /** Called by a call when it is answered. */
  forget(call: Call): void {
    this.#calls.remove(call);
  }

  #onSession = (session: ServerHttp2Session): void => {
    this.#sessions.add(session);
    session.on('error', ignore);
    session.once('close', () => this.#sessions.delete(session));
  };

  #onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
    stream.on('error', ignore);
    if (headers[':method'] !== 'POST') {
      answerHttp(stream, 405);
      return;
    }
    if (!isGrpcContentType(headers['content-type'])) {
      answerHttp(stream, 415);
      return;
    }
    const path = headers[':path'];
    const method = path === undefined ? undefined : this.#methods.get(path);
    if (method === undefined) {
      answerStatus(stream, GrpcStatus.UNIMPLEMENTED, 'unknown method');
      return;
    }
    const now = performance.now();
    let deadline = method.kind === 'unary' ? now + this.#opts.maxCallMs : Number.POSITIVE_INFINITY;
    const timeout = headers['grpc-timeout'];
    if (timeout !== undefined) {
      const ms = typeof timeout === 'string' ? parseGrpcTimeout(timeout) : undefined;
      if (ms === undefined) {
        answerStatus(stream, GrpcStatus.INVALID_ARGUMENT, 'invalid grpc-timeout');
        return;
      }
      deadline = Math.min(deadline, now + ms);
    }
    this.#calls.add(new Call(this, stream, method, deadline, this.#opts.maxReceiveBytes));
  };

  #expireLate = (): void => {
    const now = performance.now();
    this.#calls.forEachExpired(now, (call) => call.expire());
  };
}

/** Remove our own Unix socket file on close (only if it is still a socket). */
function removeSocket(socketPath: string): void {
  try {
    if (statSync(socketPath).isSocket()) rmSync(socketPath);
  } catch {
    // Already gone.
  }
}
