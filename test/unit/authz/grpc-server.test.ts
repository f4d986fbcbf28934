import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AuthzGrpcServer } from '../../../src/authz/grpc-server.ts';
import type { CheckRequest, CheckResponse } from '../../../src/envoy/check-types.ts';
import { clientConstructor } from '../../../src/envoy/proto.ts';
import { checkRequest } from '../../support/fixtures.ts';

type Unary<Req, Res> = (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => void;

function unary<Req, Res>(client: grpc.Client, method: string, req: Req): Promise<Res> {
  const fn = (client as unknown as Record<string, Unary<Req, Res>>)[method]!.bind(client);
  return new Promise((resolve, reject) => fn(req, (err, res) => (err ? reject(err) : resolve(res))));
}

const allowAll = {
  check: async (req: CheckRequest): Promise<CheckResponse> => ({
    status: { code: 0 },
    ok_response: {
      headers: [{ header: { key: 'x-seen-path', value: req.attributes?.request?.http?.path ?? '' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
      headers_to_remove: [],
      response_headers_to_add: [],
      query_parameters_to_set: [],
      query_parameters_to_remove: [],
    },
  }),
};

test('Check round-trips over a loopback port with our proto declarations', async () => {
  let ready = false;
  const server = new AuthzGrpcServer({ address: '127.0.0.1:0', handler: allowAll, ready: () => ready });
  const addr = await server.start();
  assert.match(addr, /^127\.0\.0\.1:\d+$/);
  const Authz = clientConstructor('authorization');
  const Health = clientConstructor('health');
  const client = new Authz(addr, grpc.credentials.createInsecure());
  const health = new Health(addr, grpc.credentials.createInsecure());
  try {
    const res = await unary<CheckRequest, CheckResponse>(client, 'Check', checkRequest({ path: '/fhir/Patient/1' }));
    assert.equal(res.status.code, 0);
    assert.equal(res.ok_response?.headers[0]?.header.value, '/fhir/Patient/1');

    assert.deepEqual(await unary(health, 'Check', { service: '' }), { status: 'NOT_SERVING' });
    ready = true;
    assert.deepEqual(await unary(health, 'Check', { service: 'envoy.service.auth.v3.Authorization' }), { status: 'SERVING' });
    await assert.rejects(unary(health, 'Check', { service: 'something.Else' }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
  } finally {
    client.close();
    health.close();
    await server.stop(1000);
  }
});

test('serves on a Unix socket', async () => {
  const sock = join(mkdtempSync(join(tmpdir(), 'fg-')), 'authz.sock');
  const server = new AuthzGrpcServer({ address: `unix:${sock}`, handler: allowAll, ready: () => true });
  assert.equal(await server.start(), `unix:${sock}`);
  const client = new (clientConstructor('authorization'))(`unix:${sock}`, grpc.credentials.createInsecure());
  try {
    const res = await unary<CheckRequest, CheckResponse>(client, 'Check', checkRequest());
    assert.equal(res.status.code, 0);
  } finally {
    client.close();
    await server.stop(1000);
  }
});

test('graceful stop lets an in-flight check finish', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow = {
    check: async (req: CheckRequest) => {
      await gate;
      return allowAll.check(req);
    },
  };
  const server = new AuthzGrpcServer({ address: '127.0.0.1:0', handler: slow, ready: () => true });
  const addr = await server.start();
  const client = new (clientConstructor('authorization'))(addr, grpc.credentials.createInsecure());
  const pending = unary<CheckRequest, CheckResponse>(client, 'Check', checkRequest());
  // Bounded wait for the call to reach the handler.
  for (let i = 0; i < 200 && server.inflight === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(server.inflight, 1);
  const stopping = server.stop(5000);
  release();
  const res = await pending;
  assert.equal(res.status.code, 0);
  await stopping;
  client.close();
});

test('a handler that rejects yields a gRPC error (Envoy then denies), not an allow', async () => {
  const server = new AuthzGrpcServer({ address: '127.0.0.1:0', handler: { check: () => Promise.reject(new Error('x')) }, ready: () => true });
  const addr = await server.start();
  const client = new (clientConstructor('authorization'))(addr, grpc.credentials.createInsecure());
  try {
    await assert.rejects(unary(client, 'Check', checkRequest()), (e: grpc.ServiceError) => e.code === grpc.status.INTERNAL);
  } finally {
    client.close();
    await server.stop(1000);
  }
});

test('checks arriving together are decided together: every one answered with its own decision, a failing one alone gets INTERNAL', async () => {
  const batches: number[] = [];
  let inTurn = 0;
  const handler = {
    check: (req: CheckRequest): Promise<CheckResponse> => {
      // Count the handler calls made in one synchronous run (one batch).
      if (inTurn++ === 0) queueMicrotask(() => void (batches.push(inTurn), (inTurn = 0)));
      if (req.attributes?.request?.http?.path === '/boom') return Promise.reject(new Error('x'));
      return allowAll.check(req);
    },
  };
  const server = new AuthzGrpcServer({ address: '127.0.0.1:0', handler, ready: () => true });
  const addr = await server.start();
  const client = new (clientConstructor('authorization'))(addr, grpc.credentials.createInsecure());
  try {
    await unary(client, 'Check', checkRequest({ path: '/warm' })); // connection up first
    const paths = Array.from({ length: 20 }, (_, i) => (i === 7 ? '/boom' : `/p/${i}`));
    const results = await Promise.allSettled(paths.map((path) => unary<unknown, CheckResponse>(client, 'Check', checkRequest({ path }))));
    results.forEach((r, i) => {
      if (i === 7) {
        assert.equal(r.status, 'rejected');
        assert.equal((r as PromiseRejectedResult).reason.code, grpc.status.INTERNAL);
      } else {
        assert.equal(r.status, 'fulfilled');
        const res = (r as PromiseFulfilledResult<CheckResponse>).value;
        assert.equal(res.ok_response?.headers[0]?.header.value, `/p/${i}`, 'each call gets the answer to its own request');
      }
    });
    assert.equal(batches.reduce((a, b) => a + b, 0), 21);
    assert.ok(Math.max(...batches) > 1, `concurrent checks were decided in batches (${batches.join(', ')})`);
    assert.equal(server.inflight, 0);
  } finally {
    client.close();
    await server.stop(1000);
  }
});

test('health Watch streams the serving status as it changes; an unknown service reads SERVICE_UNKNOWN; a cancelled watch is let go', async () => {
  let ready = false;
  const server = new AuthzGrpcServer({ address: '127.0.0.1:0', handler: allowAll, ready: () => ready });
  const addr = await server.start();
  const health = new (clientConstructor('health'))(addr, grpc.credentials.createInsecure());
  const watch = (service: string): { next: () => Promise<unknown>; call: grpc.ClientReadableStream<unknown> } => {
    const call = (health as unknown as { Watch: (req: object) => grpc.ClientReadableStream<unknown> }).Watch({ service });
    const queue: unknown[] = [];
    const waiting: Array<(v: unknown) => void> = [];
    call.on('data', (m: unknown) => (waiting.length > 0 ? waiting.shift()!(m) : queue.push(m)));
    call.on('error', () => {});
    return { call, next: () => (queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r))) };
  };
  try {
    const w = watch('');
    assert.deepEqual(await w.next(), { status: 'NOT_SERVING' });
    ready = true; // noticed by the once-a-second readiness poll
    assert.deepEqual(await w.next(), { status: 'SERVING' });
    const unknown = watch('something.Else');
    assert.deepEqual(await unknown.next(), { status: 'SERVICE_UNKNOWN' });
    w.call.cancel();
    unknown.call.cancel();
  } finally {
    health.close();
    await server.stop(1000);
  }
});
