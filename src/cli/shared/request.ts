/**
 * Turns what an operator types (method, URL, `K: V` header lines, body bytes) into the Envoy
 * CheckRequest the sidecar would receive for it. The CLI then runs the sidecar's own ingest
 * phase on it, so header lower-casing, duplicate tracking, content-length and path limits are
 * exactly the sidecar's — there is no second request builder to drift.
 */
import type { CheckRequest } from '../../envoy/check-types.ts';
import { UsageError } from './errors.ts';

export interface CliRequest {
  readonly method: string;
  /** Path + query (`/fhir/Observation?patient=1`) or an absolute URL. */
  readonly url: string;
  /** Header lines in order; a name given twice is sent twice (and tracked as a duplicate). */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  readonly body: Uint8Array | undefined;
}

/** The request id the CLI gives every request (it appears in OperationOutcome diagnostics). */
export const CLI_REQUEST_ID = 'fhirgate-cli';
const DEFAULT_HOST = 'fhir.local';
const ABSOLUTE = /^(https?):\/\/([^/?#]*)(.*)$/i;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;

/** Splits `--header 'Name: value'`; the name is checked against RFC 9110's token grammar. */
export function parseHeaderArg(arg: string): [string, string] {
  const colon = arg.indexOf(':');
  if (colon <= 0) throw new UsageError(`--header must look like "Name: value", got ${JSON.stringify(arg.slice(0, 80))}`);
  const name = arg.slice(0, colon).trim();
  if (!HEADER_NAME.test(name)) throw new UsageError(`--header name ${JSON.stringify(name.slice(0, 80))} is not a valid header name`);
  return [name, arg.slice(colon + 1).trim()];
}

/** Path + query, scheme and host of the URL argument. Fragments are kept: ingest refuses them. */
export function splitUrl(url: string): { pathAndQuery: string; scheme: string; host: string } {
  const abs = ABSOLUTE.exec(url);
  if (abs !== null) {
    const rest = abs[3] ?? '';
    return { pathAndQuery: rest === '' ? '/' : rest, scheme: (abs[1] ?? 'https').toLowerCase(), host: abs[2] ?? DEFAULT_HOST };
  }
  if (!url.startsWith('/')) throw new UsageError(`URL must be a path starting with "/" or an absolute http(s) URL, got ${JSON.stringify(url.slice(0, 80))}`);
  return { pathAndQuery: url, scheme: 'https', host: DEFAULT_HOST };
}

/** The path part of the URL argument (for choosing the policy by its base path). */
export function pathOf(url: string): string {
  const { pathAndQuery } = splitUrl(url);
  const q = pathAndQuery.search(/[?#]/);
  return q === -1 ? pathAndQuery : pathAndQuery.slice(0, q);
}

/**
 * The CheckRequest Envoy would send: raw header lines (encode_raw_headers mode, so repeats stay
 * separate), the query inside `path`, the body bytes, and a content-length when a body is present
 * and the operator did not give one (an HTTP client always sends it).
 */
export function toCheckRequest(req: CliRequest): CheckRequest {
  const { pathAndQuery, scheme, host } = splitUrl(req.url);
  const lines: Array<[string, string]> = req.headers.map(([k, v]) => [k.toLowerCase(), v]);
  if (req.body !== undefined && !lines.some(([k]) => k === 'content-length')) lines.push(['content-length', String(req.body.byteLength)]);
  if (!lines.some(([k]) => k === 'host' || k === ':authority')) lines.push([':authority', host]);
  return {
    attributes: {
      source: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
      request: {
        http: {
          id: CLI_REQUEST_ID,
          method: req.method.toUpperCase(),
          path: pathAndQuery,
          host,
          scheme,
          protocol: 'HTTP/1.1',
          header_map: { headers: lines.map(([key, value]) => ({ key, raw_value: Buffer.from(value, 'latin1') })) },
          ...(req.body !== undefined && req.body.byteLength > 0 ? { raw_body: Buffer.from(req.body) } : {}),
        },
      },
    },
  };
}
