#!/usr/bin/env node
/**
 * The transport floors of the Check benchmark: a server whose Check handler does no work and
 * answers a fixed OK CheckResponse.
 *
 *   --server grpc-js   (default) a stock grpc-js server with the stock codec (protobufjs through
 *                      @grpc/proto-loader): what any grpc-js Check handler gets, and the floor the
 *                      issue's CPU target is stated against;
 *   --server fhirgate  the same no-op on fhirgate-authz's own transport (src/grpc/server.ts, the
 *                      hand-written codec, the same limits as src/authz/grpc-server.ts), so the
 *                      benchmark also shows what the decision costs above our own floor.
 *
 *   node test/bench/noop-server.ts --address-file FILE [--listen 127.0.0.1:0] [--max-body-bytes N]
 *        [--server grpc-js|fhirgate]
 *
 * Writes {"grpc": "127.0.0.1:PORT"} to FILE once bound; exits on SIGTERM/SIGINT.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { decodeCheckRequest, encodeCheckResponseFrame } from '../../src/envoy/codec.ts';
import { services } from '../../src/envoy/proto.ts';
import type { CheckResponse } from '../../src/envoy/check-types.ts';
import { GrpcH2Server } from '../../src/grpc/server.ts';

/** The receive cap Sidecar sets (body cap + 256 KiB for the rest of the CheckRequest). */
function maxReceiveBytes(maxBodyBytes: number): number {
  return maxBodyBytes + 256 * 1024;
}

/** The one answer: allow, no header mutations. Frozen and shared, like a cached decision would be. */
export const OK_RESPONSE: CheckResponse = Object.freeze({
  status: { code: 0 },
  ok_response: { headers: [], headers_to_remove: [], response_headers_to_add: [], query_parameters_to_set: [], query_parameters_to_remove: [] },
}) as CheckResponse;

export type NoopServer = 'grpc-js' | 'fhirgate';

/** Start the no-op server; resolves with the bound address and a stop function. */
export async function startNoopServer(
  listen: string,
  maxBodyBytes: number,
  kind: NoopServer = 'grpc-js',
): Promise<{ address: string; stop: () => Promise<void> }> {
  if (kind === 'fhirgate') {
    const server = new GrpcH2Server({ maxReceiveBytes: maxReceiveBytes(maxBodyBytes) });
    server.add('/envoy.service.auth.v3.Authorization/Check', {
      kind: 'unary',
      decode: decodeCheckRequest,
      encode: encodeCheckResponseFrame,
      handle: (_req, call) => call.respond(OK_RESPONSE),
    });
    const address = await server.listen(listen);
    return { address, stop: () => server.close(1000) };
  }
  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxReceiveBytes(maxBodyBytes),
    'grpc.max_send_message_length': 256 * 1024,
    'grpc.keepalive_permit_without_calls': 1,
  });
  server.addService(services().authorization, {
    Check: (_call: grpc.ServerUnaryCall<unknown, CheckResponse>, callback: grpc.sendUnaryData<CheckResponse>) => {
      callback(null, OK_RESPONSE);
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  const address = `${listen.slice(0, listen.lastIndexOf(':'))}:${port}`;
  return {
    address,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      listen: { type: 'string', default: '127.0.0.1:0' },
      'address-file': { type: 'string' },
      'max-body-bytes': { type: 'string', default: String(1024 * 1024) },
      server: { type: 'string', default: 'grpc-js' },
    },
    strict: true,
  });
  const maxBody = Number(values['max-body-bytes']);
  if (!Number.isInteger(maxBody) || maxBody < 0) throw new TypeError('--max-body-bytes must be a non-negative integer');
  if (!/^127\.0\.0\.1:\d{1,5}$/.test(values.listen)) throw new TypeError('--listen must be 127.0.0.1:PORT');
  const kind = values.server;
  if (kind !== 'grpc-js' && kind !== 'fhirgate') throw new TypeError('--server must be grpc-js or fhirgate');
  const srv = await startNoopServer(values.listen, maxBody, kind);
  const file = values['address-file'];
  if (file !== undefined) {
    writeFileSync(`${file}.tmp`, JSON.stringify({ grpc: srv.address }));
    renameSync(`${file}.tmp`, file);
  }
  process.stdout.write(`noop-server listening on ${srv.address}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await srv.stop();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`noop-server: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
