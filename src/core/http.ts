/**
 * The transport-neutral view of one HTTP request, produced by the ingest phase (src/envoy/ingest.ts)
 * from Envoy's CheckRequest, and by the CLI from its arguments. Every later phase reads only this.
 */
export interface HttpRequest {
  /** Upper-case method as Envoy saw it. */
  readonly method: string;
  /** Path without the query string, as Envoy normalized it (never percent-decoded by us). */
  readonly path: string;
  /** Raw query string without the leading '?', '' when absent. */
  readonly rawQuery: string;
  /** Lower-cased header names → values. A header sent more than once keeps its first value here. */
  readonly headers: ReadonlyMap<string, string>;
  /** Lower-cased names of headers that were sent more than once. */
  readonly duplicateHeaders: ReadonlySet<string>;
  /** Request body bytes Envoy forwarded (undefined when none was sent or buffering is off). */
  readonly body: Uint8Array | undefined;
  /** True when Envoy forwarded only part of the body (x-envoy-auth-partial-body: true). */
  readonly bodyPartial: boolean;
  /** Declared request size in bytes (content-length), -1 when unknown. */
  readonly declaredSize: number;
  /** Host / :authority. */
  readonly host: string;
  readonly scheme: string;
  readonly protocol: string;
  /** Envoy's x-request-id (or a generated id) — safe to log, carries no PHI. */
  readonly requestId: string;
  /** Source address of the downstream connection ("ip:port" or "unix:path"), '' when unknown. */
  readonly sourceAddress: string;
  /** PEM of the client certificate Envoy verified (mTLS), undefined when none. */
  readonly peerCertificatePem: string | undefined;
  /** W3C traceparent header of the request, if any. */
  readonly traceparent: string | undefined;
}

/** Convenience: one header value (names are lower-case). */
export function header(req: HttpRequest, name: string): string | undefined {
  return req.headers.get(name);
}
