#!/usr/bin/env node
/**
 * The transport floor of the Check benchmark: a grpc-js server whose Check handler does no work
 * and answers a fixed OK CheckResponse, with the same grpc.Server options as
 * src/authz/grpc-server.ts, so comparing its CPU per call with fhirgate-authz's isolates the cost
 * of the decision itself (ingest, route, authenticate, authorize, respond, record).
 *
 * Codec: by default the stock one — protobufjs through @grpc/proto-loader, what any grpc-js Check
 * handler gets, and the floor the target is stated against. `--codec fhirgate` uses the
 * sidecar's hand-written codec (src/envoy/codec.ts) instead, so the benchmark can also show the
 * ratio against a floor that shares our faster (de)serialization.
 *
 *   node test/bench/noop-server.ts --address-file FILE [--listen 127.0.0.1:0] [--max-body-bytes N]
 *        [--codec protobufjs|fhirgate]
 *
 * Writes {"grpc": "127.0.0.1:PORT"} to FILE once bound; exits on SIGTERM/SIGINT.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { protobufjsAuthorization, services } from '../../src/envoy/proto.ts';
import type { CheckResponse } from '../../src/envoy/check-types.ts';

/**
 * Mirrors the options AuthzGrpcServer passes to grpc.Server (receive cap = body cap + 256 KiB,
 * as Sidecar sets it). Keep in step with src/authz/grpc-server.ts.
 */
export function serverOptions(maxBodyBytes: number): grpc.ServerOptions {
  return {
    'grpc.max_receive_message_length': maxBodyBytes + 256 * 1024,
    'grpc.max_send_message_length': 256 * 1024,
    'grpc.keepalive_permit_without_calls': 1,
  };
}

/** The one answer: allow, no header mutations. Frozen and shared, like a cached decision would be. */
export const OK_RESPONSE: CheckResponse = Object.freeze({
  status: { code: 0 },
  ok_response: { headers: [], headers_to_remove: [], response_headers_to_add: [], query_parameters_to_set: [], query_parameters_to_remove: [] },
}) as CheckResponse;

export type NoopCodec = 'protobufjs' | 'fhirgate';

/** Start the no-op server; resolves with the bound address and a stop function. */
export async function startNoopServer(
  listen: string,
  maxBodyBytes: number,
  codec: NoopCodec = 'protobufjs',
): Promise<{ address: string; stop: () => Promise<void> }> {
  const server = new grpc.Server(serverOptions(maxBodyBytes));
  const authorization = codec === 'fhirgate' ? services().authorization : protobufjsAuthorization();
  server.addService(authorization, {
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
      codec: { type: 'string', default: 'protobufjs' },
    },
    strict: true,
  });
  const maxBody = Number(values['max-body-bytes']);
  if (!Number.isInteger(maxBody) || maxBody < 0) throw new TypeError('--max-body-bytes must be a non-negative integer');
  if (!/^127\.0\.0\.1:\d{1,5}$/.test(values.listen)) throw new TypeError('--listen must be 127.0.0.1:PORT');
  const codec = values.codec;
  if (codec !== 'protobufjs' && codec !== 'fhirgate') throw new TypeError('--codec must be protobufjs or fhirgate');
  const srv = await startNoopServer(values.listen, maxBody, codec);
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
