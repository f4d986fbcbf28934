/**
 * ingest: Envoy's CheckRequest → our HttpRequest. A pure function; hostile input yields a
 * reason code, never an exception.
 *
 * Wire facts: the query string is inside `path` (the `query` field is empty); header names arrive
 * lower-cased; with `encode_raw_headers` Envoy sends every header line separately in `header_map`
 * (values in `raw_value`), otherwise it joins repeated headers with ',' in the `headers` map.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest } from '../core/http.ts';
import type { ReasonCode } from '../core/reasons.ts';
import type { CheckRequest, HeaderValue, Peer } from './check-types.ts';

export interface IngestLimits {
  /** Longest accepted path including the query string, in bytes. */
  readonly maxPathBytes: number;
  /** Most header lines accepted. */
  readonly maxHeaders: number;
}

export const DEFAULT_INGEST_LIMITS: IngestLimits = { maxPathBytes: 8192, maxHeaders: 200 };

export type IngestResult = { ok: true; request: HttpRequest } | { ok: false; reason: ReasonCode; requestId: string };

const METHOD = /^[A-Z]{3,10}$/;
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const DECIMAL_SIZE = /^\d{1,15}$/;
const PARTIAL_BODY_HEADER = 'x-envoy-auth-partial-body';

export function ingest(check: CheckRequest, limits: IngestLimits = DEFAULT_INGEST_LIMITS): IngestResult {
  const http = check?.attributes?.request?.http;
  const fallbackId = safeRequestId(http?.id) ?? randomUUID();
  if (http === undefined || http === null || typeof http !== 'object') {
    return { ok: false, reason: 'request_malformed', requestId: fallbackId };
  }
  const fail = (reason: ReasonCode): IngestResult => ({ ok: false, reason, requestId: fallbackId });

  const method = typeof http.method === 'string' ? http.method : '';
  if (!METHOD.test(method)) return fail('request_malformed');

  const fullPath = typeof http.path === 'string' ? http.path : '';
  if (fullPath.length === 0 || fullPath.length > limits.maxPathBytes || fullPath[0] !== '/') {
    return fail('request_path_invalid');
  }
  const q = fullPath.indexOf('?');
  const path = q === -1 ? fullPath : fullPath.slice(0, q);
  let rawQuery = q === -1 ? '' : fullPath.slice(q + 1);
  const hash = rawQuery.indexOf('#');
  if (hash !== -1 || path.includes('#')) return fail('request_path_invalid');
  if (rawQuery === '' && typeof http.query === 'string' && http.query !== '') rawQuery = http.query;

  const headers = new Map<string, string>();
  const duplicates = new Set<string>();
  if (!collectHeaders(http.header_map?.headers, http.headers, headers, duplicates, limits.maxHeaders)) {
    return fail('request_header_invalid');
  }

  const body = bodyBytes(http.raw_body, http.body);
  const partial = headers.get(PARTIAL_BODY_HEADER) === 'true';
  const contentLength = headers.get('content-length');
  const declaredSize =
    typeof http.size === 'number' && http.size >= 0
      ? http.size
      : contentLength !== undefined && DECIMAL_SIZE.test(contentLength)
        ? Number(contentLength)
        : -1;

  const request: HttpRequest = {
    method,
    path,
    rawQuery,
    headers,
    duplicateHeaders: duplicates,
    body,
    bodyPartial: partial,
    declaredSize,
    host: typeof http.host === 'string' ? http.host : (headers.get(':authority') ?? headers.get('host') ?? ''),
    scheme: typeof http.scheme === 'string' ? http.scheme : '',
    protocol: typeof http.protocol === 'string' ? http.protocol : '',
    requestId: safeRequestId(http.id) ?? safeRequestId(headers.get('x-request-id')) ?? fallbackId,
    sourceAddress: peerAddress(check.attributes?.source),
    peerCertificatePem: peerCertificate(check.attributes?.source),
    traceparent: headers.get('traceparent'),
  };
  return { ok: true, request };
}

/**
 * Fills `headers` (first value of each lower-case name) and `duplicates` (names seen again) from
 * Envoy's raw header lines, or else from its joined header map. false when a line is malformed or
 * there are more than `max` lines. Writes straight into the map: no intermediate list per request.
 */
function collectHeaders(
  raw: HeaderValue[] | undefined,
  map: Record<string, string> | undefined,
  headers: Map<string, string>,
  duplicates: Set<string>,
  max: number,
): boolean {
  const add = (key: string, value: string): void => {
    if (headers.has(key)) duplicates.add(key);
    else headers.set(key, value);
  };
  if (Array.isArray(raw) && raw.length > 0) {
    if (raw.length > max) return false;
    for (const h of raw) {
      const key = typeof h?.key === 'string' ? lower(h.key) : '';
      if (key === '') return false;
      const rv = h.raw_value;
      add(key, rv !== undefined && rv.length > 0 ? rv.toString('latin1') : typeof h.value === 'string' ? h.value : '');
    }
    return true;
  }
  if (map !== undefined && map !== null && typeof map === 'object') {
    const keys = Object.keys(map);
    if (keys.length > max) return false;
    for (const k of keys) {
      const v = map[k];
      if (typeof v !== 'string' || k === '') return false;
      add(lower(k), v);
    }
  }
  return true;
}

/** Envoy sends names lower-cased already: skip the copy then. */
function lower(name: string): string {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return name.toLowerCase();
  }
  return name;
}

function bodyBytes(raw: Buffer | undefined, text: string | undefined): Uint8Array | undefined {
  if (raw !== undefined && raw !== null && raw.length > 0) return new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
  if (typeof text === 'string' && text.length > 0) return new TextEncoder().encode(text);
  return undefined;
}

function peerAddress(peer: Peer | undefined): string {
  const sock = peer?.address?.socket_address;
  if (sock !== undefined && typeof sock.address === 'string') {
    const port = typeof sock.port_value === 'number' ? sock.port_value : 0;
    return sock.address.includes(':') ? `[${sock.address}]:${port}` : `${sock.address}:${port}`;
  }
  const pipe = peer?.address?.pipe?.path;
  return typeof pipe === 'string' ? `unix:${pipe}` : '';
}

/** Envoy sends the verified client certificate as a URL-encoded PEM. */
function peerCertificate(peer: Peer | undefined): string | undefined {
  const enc = peer?.certificate;
  if (typeof enc !== 'string' || enc.length === 0 || enc.length > 64 * 1024) return undefined;
  try {
    const pem = decodeURIComponent(enc);
    return pem.includes('-----BEGIN CERTIFICATE-----') ? pem : undefined;
  } catch {
    return undefined;
  }
}

function safeRequestId(id: unknown): string | undefined {
  return typeof id === 'string' && SAFE_ID.test(id) ? id : undefined;
}
