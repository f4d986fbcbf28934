/** Builders shared by unit tests: CheckRequests as Envoy sends them, HttpRequests, principals. */
import type { HttpRequest } from '../../src/core/http.ts';
import type { Principal } from '../../src/core/principal.ts';
import type { CheckRequest } from '../../src/envoy/check-types.ts';

export interface CheckRequestInit {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  /** Raw header lines (encode_raw_headers mode); wins over `headers`. */
  lines?: Array<[string, string]>;
  body?: string;
  id?: string;
  certificate?: string;
}

export function checkRequest(init: CheckRequestInit = {}): CheckRequest {
  const http: NonNullable<NonNullable<NonNullable<CheckRequest['attributes']>['request']>['http']> = {
    id: init.id ?? 'req-1',
    method: init.method ?? 'GET',
    path: init.path ?? '/fhir/Observation',
    host: 'fhir.example.test',
    scheme: 'https',
    protocol: 'HTTP/1.1',
  };
  if (init.lines !== undefined) {
    http.header_map = { headers: init.lines.map(([key, v]) => ({ key, raw_value: Buffer.from(v, 'latin1') })) };
  } else {
    http.headers = init.headers ?? {};
  }
  if (init.body !== undefined) http.raw_body = Buffer.from(init.body);
  return {
    attributes: {
      source: {
        address: { socket_address: { address: '10.1.2.3', port_value: 40000 } },
        ...(init.certificate !== undefined ? { certificate: init.certificate } : {}),
      },
      request: { http },
    },
  };
}

export function httpRequest(init: Partial<HttpRequest> & { headerLines?: Array<[string, string]> } = {}): HttpRequest {
  const headers = new Map<string, string>();
  const dup = new Set<string>();
  for (const [k, v] of init.headerLines ?? []) {
    if (headers.has(k)) dup.add(k);
    else headers.set(k, v);
  }
  return {
    method: 'GET',
    path: '/fhir/Observation',
    rawQuery: '',
    headers: init.headers ?? headers,
    duplicateHeaders: init.duplicateHeaders ?? dup,
    body: undefined,
    bodyPartial: false,
    declaredSize: -1,
    host: 'fhir.example.test',
    scheme: 'https',
    protocol: 'HTTP/1.1',
    requestId: 'req-1',
    sourceAddress: '10.1.2.3:40000',
    peerCertificatePem: undefined,
    traceparent: undefined,
    ...init,
  };
}

export function principal(init: Partial<Principal> = {}): Principal {
  return {
    tokenKind: 'jwt',
    issuer: 'https://issuer.example.test',
    subject: 'user-1',
    clientId: 'app-1',
    audience: ['https://fhir.example.test/fhir'],
    scopes: [],
    jti: 'jti-1',
    expiresAt: 2_000_000_000,
    issuedAt: 1_999_999_000,
    patient: undefined,
    encounter: undefined,
    fhirContext: [],
    fhirUser: undefined,
    roles: [],
    certThumbprint: undefined,
    claims: {},
    ...init,
  };
}
