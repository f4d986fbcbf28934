/**
 * The CheckRequest the Check benchmark sends: what Envoy, configured by src/envoy/bootstrap.ts
 * (`encode_raw_headers: true`), sends for a patient app's Observation search — pseudo-headers and
 * ordinary headers as separate raw lines, the query inside `path`, source and destination peers.
 * Written as proto3 JSON (bytes base64) because that is what ghz reads with --data-file.
 */
import { randomUUID } from 'node:crypto';
import { DEMO_PATIENT_ID } from '../../../src/cli/dev/personas.ts';

/** The request every arm is asked about: allowed for the `patient-app` persona. */
export const BENCH_PATH = `/fhir/Observation?patient=${DEMO_PATIENT_ID}&_count=20`;
const AUTHORITY = 'fhir.example.test';

const b64 = (s: string): string => Buffer.from(s, 'latin1').toString('base64');

/** One CheckRequest (proto3 JSON, for ghz) carrying `Authorization: Bearer <token>`. */
export function checkRequestJson(token: string, requestId: string = randomUUID()): Record<string, unknown> {
  return checkRequest(token, requestId, (v) => b64(v));
}

/** The same CheckRequest as @grpc/proto-loader objects (bytes as Buffer), for a grpc-js client. */
export function checkRequestObject(token: string, requestId: string = randomUUID()): Record<string, unknown> {
  return checkRequest(token, requestId, (v) => Buffer.from(v, 'latin1'));
}

function checkRequest(token: string, requestId: string, raw: (value: string) => unknown): Record<string, unknown> {
  const lines: Array<[string, string]> = [
    [':authority', AUTHORITY],
    [':path', BENCH_PATH],
    [':method', 'GET'],
    [':scheme', 'http'],
    ['user-agent', 'smart-app/1.0'],
    ['accept', 'application/fhir+json'],
    ['authorization', `Bearer ${token}`],
    ['x-forwarded-proto', 'http'],
    ['x-request-id', requestId],
  ];
  return {
    attributes: {
      source: { address: { socket_address: { address: '127.0.0.1', port_value: 51234 } } },
      destination: { address: { socket_address: { address: '127.0.0.1', port_value: 10000 } } },
      request: {
                http: {
          id: requestId.replace(/-/g, '').slice(0, 20),
          method: 'GET',
          path: BENCH_PATH,
          host: AUTHORITY,
          scheme: 'http',
          protocol: 'HTTP/1.1',
          header_map: { headers: lines.map(([key, value]) => ({ key, raw_value: raw(value) })) },
        },
      },
    },
  };
}
