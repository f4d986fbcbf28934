import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import type { IncomingHttpHeaders } from 'node:http2';
import { frameMessage } from '../../../src/grpc/framing.ts';
import { GrpcH2Server } from '../../../src/grpc/server.ts';
import type { StreamCall, UnaryCall } from '../../../src/grpc/server.ts';
import { GrpcStatus, encodeGrpcMessage } from '../../../src/grpc/status.ts';

const ECHO = '/test.Echo/Say';
const SLOW = '/test.Echo/Slow';
const TICKS = '/test.Echo/Ticks';

interface Reply {
  readonly headers: IncomingHttpHeaders;
  readonly data: Buffer;
  readonly trailers: IncomingHttpHeaders;
  readonly rstCode: number;
}

/** One raw HTTP/2 request; resolves when the stream closes (bounded by the test's own timeout). */
function request(
  session: http2.ClientHttp2Session,
  opts: { path?: string; method?: string; headers?: Record<string, string>; body?: Buffer[]; end?: boolean } = {},
): Promise<Reply> {
  const stream = session.request({
    ':method': opts.method ?? 'POST',
    ':path': opts.path ?? ECHO,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...opts.headers,
  }, { endStream: false });
  let headers: IncomingHttpHeaders = {};
  let trailers: IncomingHttpHeaders = {};
  const data: Buffer[] = [];
  stream.on('response', (h) => (headers = h));
  stream.on('trailers', (t) => (trailers = t));
  stream.on('data', (c: Buffer) => data.push(c));
  stream.on('error', () => {});
  for (const b of opts.body ?? []) stream.write(b);
  if (opts.end !== false) stream.end();
  return new Promise((resolve) => stream.on('close', () => resolve({ headers, data: Buffer.concat(data), trailers, rstCode: stream.rstCode ?? 0 })));
}

function statusOf(r: Reply): string | undefined {
  return (r.trailers['grpc-status'] ?? r.headers['grpc-status']) as string | undefined;
}

async function withServer(
  fn: (session: http2.ClientHttp2Session, server: GrpcH2Server, addr: string) => Promise<void>,
  opts: { maxCallMs?: number; maxReceiveBytes?: number } = {},
): Promise<void> {
  const server = new GrpcH2Server({ maxReceiveBytes: opts.maxReceiveBytes ?? 64, ...(opts.maxCallMs === undefined ? {} : { maxCallMs: opts.maxCallMs }) });
  const codec = { decode: (m: Buffer) => m.toString('utf8'), encode: (s: string) => frameMessage(Buffer.from(s)) };
  server.add(ECHO, {
    kind: 'unary',
    ...codec,
    handle: (req: string, call: UnaryCall<string>) => {
      if (req === 'throw') throw new Error('secret detail');
      if (req === 'fail') call.fail(GrpcStatus.NOT_FOUND, 'not here');
      else call.respond(`you said ${req}`);
    },
  });
  server.add(SLOW, { kind: 'unary', ...codec, handle: () => {} });
  const ticking = new Set<StreamCall<string>>();
  server.add(TICKS, {
    kind: 'server-stream',
    ...codec,
    handle: (req: string, call: StreamCall<string>) => {
      ticking.add(call);
      call.onClose(() => ticking.delete(call));
      call.write(`${req}:1`);
      call.write(`${req}:2`);
      if (req === 'done') call.end();
    },
  });
  const addr = await server.listen('127.0.0.1:0');
  const session = http2.connect(`http://${addr}`);
  session.on('error', () => {});
  try {
    await fn(session, server, addr);
  } finally {
    session.destroy();
    await server.close(500);
  }
}

test('a unary call: headers, one framed message, grpc-status 0 in trailers', async () => {
  await withServer(async (session, server) => {
    const r = await request(session, { body: [frameMessage(Buffer.from('hi'))] });
    assert.equal(r.headers[':status'], 200);
    assert.equal(r.headers['content-type'], 'application/grpc');
    assert.deepStrictEqual(r.data, frameMessage(Buffer.from('you said hi')));
    assert.equal(r.trailers['grpc-status'], '0');
    assert.equal(server.pendingCalls, 0);
  });
});

test('the request may arrive in any number of DATA frames', async () => {
  await withServer(async (session) => {
    const framed = frameMessage(Buffer.from('split'));
    const r = await request(session, { body: [...framed].map((b) => Buffer.from([b])) });
    assert.deepStrictEqual(r.data, frameMessage(Buffer.from('you said split')));
  });
});

test('not gRPC: GET → 405, another content-type → 415, unknown method → UNIMPLEMENTED', async () => {
  await withServer(async (session) => {
    assert.equal((await request(session, { method: 'GET' })).headers[':status'], 405);
    for (const ct of ['text/plain', 'application/grpcx', 'application/json', 'application/grp']) {
      assert.equal((await request(session, { headers: { 'content-type': ct }, body: [frameMessage(Buffer.from('x'))] })).headers[':status'], 415, ct);
    }
    for (const ct of ['application/grpc+proto', 'application/grpc;charset=utf-8']) {
      assert.equal(statusOf(await request(session, { headers: { 'content-type': ct }, body: [frameMessage(Buffer.from('x'))] })), '0', ct);
    }
    const r = await request(session, { path: '/test.Echo/Nope', body: [frameMessage(Buffer.from('x'))] });
    assert.equal(r.headers[':status'], 200);
    assert.equal(statusOf(r), String(GrpcStatus.UNIMPLEMENTED));
    assert.equal(r.data.length, 0, 'trailers-only');
  });
});

test('an oversized request is refused from its prefix and the stream reset, not read to the end', async () => {
  await withServer(async (session, server) => {
    // Announce 1 MiB, send 10 bytes and never end: the answer must not wait for the rest.
    const head = Buffer.alloc(15);
    head.writeUInt32BE(1 << 20, 1);
    const r = await request(session, { body: [head], end: false });
    assert.equal(statusOf(r), String(GrpcStatus.RESOURCE_EXHAUSTED));
    assert.equal(r.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    assert.equal(server.pendingCalls, 0);
    // The connection is still good for the next call.
    assert.equal(statusOf(await request(session, { body: [frameMessage(Buffer.from('ok'))] })), '0');
  }, { maxReceiveBytes: 64 });
});

test('protocol violations get a status, never a handler call: compressed, two messages, none, truncated', async () => {
  await withServer(async (session) => {
    const compressed = frameMessage(Buffer.from('x'));
    compressed[0] = 1;
    assert.equal(statusOf(await request(session, { body: [compressed] })), String(GrpcStatus.UNIMPLEMENTED));
    assert.equal(statusOf(await request(session, { body: [frameMessage(Buffer.from('a')), frameMessage(Buffer.from('b'))] })), String(GrpcStatus.INTERNAL));
    assert.equal(statusOf(await request(session, { body: [] })), String(GrpcStatus.INTERNAL));
    assert.equal(statusOf(await request(session, { body: [frameMessage(Buffer.from('abc')).subarray(0, 6)] })), String(GrpcStatus.INTERNAL));
  });
});

test('a handler that throws gets INTERNAL with a fixed message (its own text never leaves); fail() carries its status', async () => {
  await withServer(async (session) => {
    const thrown = await request(session, { body: [frameMessage(Buffer.from('throw'))] });
    assert.equal(statusOf(thrown), String(GrpcStatus.INTERNAL));
    assert.equal(thrown.headers['grpc-message'], 'internal error');
    const failed = await request(session, { body: [frameMessage(Buffer.from('fail'))] });
    assert.equal(statusOf(failed), String(GrpcStatus.NOT_FOUND));
    assert.equal(failed.headers['grpc-message'], 'not here');
  });
});

test('deadlines: a call past its grpc-timeout gets DEADLINE_EXCEEDED from the sweep; an invalid grpc-timeout is refused', async () => {
  await withServer(async (session, server) => {
    const started = Date.now();
    const r = await request(session, { path: SLOW, headers: { 'grpc-timeout': '50m' }, body: [frameMessage(Buffer.from('x'))] });
    assert.equal(statusOf(r), String(GrpcStatus.DEADLINE_EXCEEDED));
    assert.ok(Date.now() - started < 2500, 'answered by the next sweep');
    assert.equal(server.pendingCalls, 0);
    // No grpc-timeout: maxCallMs applies, also to a request that never finishes.
    const open = await request(session, { path: SLOW, body: [], end: false });
    assert.equal(statusOf(open), String(GrpcStatus.DEADLINE_EXCEEDED));
    assert.equal(statusOf(await request(session, { headers: { 'grpc-timeout': '1x' }, body: [frameMessage(Buffer.from('x'))] })), String(GrpcStatus.INVALID_ARGUMENT));
  }, { maxCallMs: 100 });
});

test('a client that resets mid-call costs nothing and breaks nothing', async () => {
  await withServer(async (session, server) => {
    for (let i = 0; i < 20; i++) {
      const s = session.request({ ':method': 'POST', ':path': ECHO, 'content-type': 'application/grpc' });
      s.on('error', () => {});
      s.write(frameMessage(Buffer.from('x')).subarray(0, 3));
      s.close(http2.constants.NGHTTP2_CANCEL);
    }
    assert.equal(statusOf(await request(session, { body: [frameMessage(Buffer.from('after'))] })), '0');
    // The reset calls never completed a request: the sweep clears them at maxCallMs.
    for (let i = 0; i < 40 && server.pendingCalls > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(server.pendingCalls, 0);
  }, { maxCallMs: 200 });
});

test('server streaming: messages as they are written, status in trailers; a client leaving is noticed', async () => {
  await withServer(async (session, server) => {
    const done = await request(session, { path: TICKS, body: [frameMessage(Buffer.from('done'))] });
    assert.deepStrictEqual(done.data, Buffer.concat([frameMessage(Buffer.from('done:1')), frameMessage(Buffer.from('done:2'))]));
    assert.equal(done.trailers['grpc-status'], '0');
    // A watch that stays open: the client cancels, the server forgets it.
    const s = session.request({ ':method': 'POST', ':path': TICKS, 'content-type': 'application/grpc' });
    s.on('error', () => {});
    s.end(frameMessage(Buffer.from('open')));
    await new Promise<void>((resolve) => s.once('data', () => resolve()));
    assert.equal(server.pendingCalls, 1);
    s.close(http2.constants.NGHTTP2_CANCEL);
    for (let i = 0; i < 50 && server.pendingCalls > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(server.pendingCalls, 0);
  });
});

/** A server whose one method holds its call for the test to answer, and a client connected to it. */
async function heldCallServer(): Promise<{ server: GrpcH2Server; addr: string; session: http2.ClientHttp2Session; held: () => UnaryCall<string> | undefined }> {
  const server = new GrpcH2Server({ maxReceiveBytes: 64 });
  let pending: UnaryCall<string> | undefined;
  server.add(SLOW, { kind: 'unary', decode: (m) => m.toString(), encode: (s: string) => frameMessage(Buffer.from(s)), handle: (_req, call) => (pending = call) });
  const addr = await server.listen('127.0.0.1:0');
  const session = http2.connect(`http://${addr}`);
  session.on('error', () => {});
  return { server, addr, session, held: () => pending };
}

/** Bounded wait until the held call reaches the handler. */
async function waitHeld(held: () => UnaryCall<string> | undefined): Promise<UnaryCall<string>> {
  for (let i = 0; i < 100 && held() === undefined; i++) await new Promise((r) => setTimeout(r, 5));
  const call = held();
  assert.ok(call, 'the call reached the handler');
  return call;
}

test('graceful close: GOAWAY, the in-flight call still gets its answer, new connections are refused', async () => {
  const { server, addr, session, held } = await heldCallServer();
  const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
  const reply = request(session, { path: SLOW, body: [frameMessage(Buffer.from('x'))] });
  const pending = await waitHeld(held);
  const closing = server.close(5000);
  await goaway;
  pending.respond('late but answered');
  const r = await reply;
  assert.deepStrictEqual(r.data, frameMessage(Buffer.from('late but answered')));
  assert.equal(r.trailers['grpc-status'], '0');
  await closing;
  const refused = http2.connect(`http://${addr}`);
  await new Promise<void>((resolve) => refused.once('error', () => resolve()));
  refused.destroy();
  session.destroy();
});

test('grpc-message is percent-encoded', () => {
  assert.equal(encodeGrpcMessage('plain text'), 'plain text');
  assert.equal(encodeGrpcMessage('100% ü\n'), '100%25 %C3%BC%0A');
});

test('a client that does not speak HTTP/2 (HTTP/1.1, garbage) loses its connection, and nothing else happens', async () => {
  await withServer(async (session, _server, addr) => {
    const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
    // HTTP/1.1; the HTTP/2 preface followed by a DATA frame before SETTINGS; a TLS ClientHello.
    for (const junk of ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x01', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03']) {
      const sock = net.connect(port, '127.0.0.1');
      sock.on('error', () => {});
      sock.resume(); // read what the server says (a GOAWAY), so 'close' can follow the end
      sock.write(Buffer.from(junk, 'latin1'));
      // The server closes the connection (bounded wait: the test runner's timeout).
      await new Promise<void>((resolve) => sock.once('close', () => resolve()));
    }
    assert.equal(statusOf(await request(session, { body: [frameMessage(Buffer.from('still fine'))] })), '0');
  });
});

test('answering a call whose connection is gone is a no-op, not a throw', async () => {
  const { server, session, held } = await heldCallServer();
  void request(session, { path: SLOW, body: [frameMessage(Buffer.from('x'))] });
  const pending = await waitHeld(held);
  session.destroy();
  await new Promise((r) => setTimeout(r, 50)); // the server sees the connection go
  assert.doesNotThrow(() => pending.respond('too late'));
  assert.doesNotThrow(() => pending.fail(GrpcStatus.INTERNAL, 'also too late'));
  assert.equal(server.pendingCalls, 0);
  await server.close(500);
});
