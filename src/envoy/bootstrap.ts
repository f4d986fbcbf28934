/**
 * The one Envoy bootstrap generator. The demo (`fhirgate dev`), the e2e tests and the Helm chart
 * all run the configuration this function returns, so the tested config is the shipped config.
 *
 * The result is a plain JSON-serializable object: write it with JSON.stringify and start Envoy with
 * `-c file.json`. Every security property below is fixed — no option can turn it off:
 *
 *   - ext_authz over gRPC (V3) is mandatory for every request, with `failure_mode_allow: false`,
 *     a short timeout, `status_on_error` 503, the peer certificate forwarded, headers encoded raw
 *     (so repeated headers reach the sidecar separately) and the request body forwarded up to a cap;
 *   - path normalization (RFC 3986 dot segments, merged slashes) and rejection of escaped slashes,
 *     so the sidecar and the FHIR server see the same path;
 *   - headers with underscores rejected (they smuggle past proxies that map `_` to `-`), header
 *     size and count capped, request timeouts set;
 *   - the client's Cookie, Proxy-Authorization and hop-by-hop headers never reach the FHIR server;
 *     every client-sent `x-envoy-*` header is dropped before ext_authz and the access log see it;
 *   - security response headers on every answer, including Envoy's own denials;
 *   - a JSON access log without query strings, tokens or cookies (bootstrap-access-log.ts).
 *
 * Request bodies larger than the cap: ext_authz buffers at most `maxRequestBodyBytes` and, with
 * `allow_partial_message: true`, sends that prefix flagged with `x-envoy-auth-partial-body: true`;
 * fhirgate-authz answers 413 for a partial body. As a second, independent guard the `buffer`
 * filter sits after ext_authz with the same cap: a larger body can never be streamed to the FHIR
 * server, even if the sidecar were to allow a partial body (Envoy answers 413 itself).
 */
import { accessLogger } from './bootstrap-access-log.ts';
import { downstreamTransportSocket } from './bootstrap-tls.ts';
import type { DownstreamTlsOptions } from './bootstrap-tls.ts';

export type { DownstreamTlsOptions } from './bootstrap-tls.ts';

/** Where fhirgate-authz listens: a loopback TCP port or a Unix socket. */
export type AuthzTarget =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

export interface BootstrapOptions {
  /** Envoy node cluster / tracing service name. Default `fhirgate`. */
  readonly serviceName?: string;
  /** Client-facing listener. Port 0 asks the kernel for a free port (read it from the admin API). */
  readonly listener: { readonly address: string; readonly port: number };
  /** Downstream TLS/mTLS; plain HTTP when absent (local demo and tests only). */
  readonly tls?: DownstreamTlsOptions;
  /** The FHIR server Envoy forwards allowed requests to. */
  readonly upstream: { readonly host: string; readonly port: number; readonly timeoutMs?: number };
  /** FHIR base path routed to the upstream; everything else gets a 404 from Envoy. Default `/fhir`. */
  readonly fhirBasePath?: string;
  readonly authz: {
    readonly target: AuthzTarget;
    /** ext_authz gRPC deadline. Default 250 ms. */
    readonly timeoutMs?: number;
    /** Largest request body forwarded to the sidecar and to the upstream. Default 65536. */
    readonly maxRequestBodyBytes?: number;
  };
  /** Admin interface; loopback only. Port 0 allowed (use --admin-address-path to learn it). */
  readonly admin: { readonly address?: string; readonly port: number };
  /** Access log file; Envoy's stdout when absent. */
  readonly accessLogPath?: string;
  /** OTLP/gRPC collector for Envoy's spans; tracing off when absent. */
  readonly tracing?: { readonly host: string; readonly port: number; readonly samplingPercent?: number };
  /** Request header block cap in KiB. Default 32. */
  readonly maxRequestHeadersKb?: number;
  /** Whole-request timeout (client → response complete). Default 60 s. */
  readonly requestTimeoutMs?: number;
  /**
   * Forward the client's Authorization header to the FHIR server. Default true (many FHIR servers
   * read it for their own audit); set false when the upstream trusts fhirgate alone.
   */
  readonly forwardAuthorization?: boolean;
}

/** A JSON-serializable Envoy v3 bootstrap. */
export type EnvoyBootstrap = Record<string, unknown>;

export const DEFAULT_AUTHZ_TIMEOUT_MS = 250;
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 65536;
export const DEFAULT_MAX_REQUEST_HEADERS_KB = 32;
export const AUTHZ_CLUSTER = 'fhirgate_authz';
export const UPSTREAM_CLUSTER = 'fhir_upstream';
export const TRACING_CLUSTER = 'otlp_collector';
export const LISTENER_NAME = 'fhir_ingress';
/** Fixed Server header value: hides the upstream's product and version. */
export const SERVER_NAME = 'fhirgate';

/** Client headers removed before the request is forwarded to the FHIR server. */
export const STRIPPED_REQUEST_HEADERS: readonly string[] = Object.freeze([
  'cookie',
  'proxy-authorization',
  // Hop-by-hop (RFC 9110 §7.6.1). Envoy drops most of these itself; listing them keeps the
  // guarantee independent of Envoy's codec behaviour.
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  // Headers that would let a client pose as having been through another proxy hop.
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'forwarded',
  'x-original-url',
  'x-rewrite-url',
]);

/** Response headers added to every answer (upstream responses and Envoy's own replies). */
export const SECURITY_RESPONSE_HEADERS: ReadonlyArray<readonly [string, string]> = Object.freeze([
  ['strict-transport-security', 'max-age=31536000; includeSubDomains'],
  ['x-content-type-options', 'nosniff'],
  ['cache-control', 'no-store'],
  ['pragma', 'no-cache'],
] as const);

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

function checkPort(name: string, port: unknown, allowZero: boolean): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    throw new TypeError(`${name} must be an integer port${allowZero ? ' (0 = ephemeral)' : ''} up to 65535`);
  }
  return port;
}

function checkPositiveInt(name: string, value: number | undefined, fallback: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1 || v > max) throw new TypeError(`${name} must be an integer in 1..${max}`);
  return v;
}

function checkHost(name: string, host: unknown): string {
  if (typeof host !== 'string' || host === '' || /[\s/\0]/.test(host)) throw new TypeError(`${name} must be a host name or IP`);
  return host;
}

/** Envoy duration string from milliseconds, e.g. 250 → "0.250s". */
export function duration(ms: number): string {
  return `${(ms / 1000).toFixed(3)}s`;
}

function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

function socketAddress(host: string, port: number): Record<string, unknown> {
  return { socket_address: { address: host, port_value: port } };
}

function endpointCluster(name: string, host: string, port: number, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    name,
    // A literal IP needs no resolver; a name (Kubernetes service) is re-resolved periodically.
    type: isIp(host) ? 'STATIC' : 'STRICT_DNS',
    connect_timeout: '2s',
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(host, port) } }] }],
    },
    ...extra,
  };
}

const HTTP2_UPSTREAM = {
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
    '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
    explicit_http_config: { http2_protocol_options: {} },
  },
};

function authzCluster(target: AuthzTarget): Record<string, unknown> {
  // The sidecar is local: fail fast, and allow as many concurrent checks as Envoy can send so the
  // circuit breaker never becomes the bottleneck (overflow would be a 503, not an allow).
  const common = {
    connect_timeout: '0.250s',
    typed_extension_protocol_options: HTTP2_UPSTREAM,
    circuit_breakers: {
      thresholds: [{ priority: 'DEFAULT', max_connections: 1024, max_pending_requests: 4096, max_requests: 4096, max_retries: 0 }],
    },
  };
  if (target.kind === 'unix') {
    if (typeof target.path !== 'string' || !target.path.startsWith('/')) {
      throw new TypeError('authz.target.path must be an absolute Unix socket path');
    }
    return {
      name: AUTHZ_CLUSTER,
      type: 'STATIC',
      load_assignment: {
        cluster_name: AUTHZ_CLUSTER,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: target.path } } } }] }],
      },
      ...common,
    };
  }
  const host = checkHost('authz.target.host', target.host);
  if (!LOOPBACK.has(host)) throw new TypeError('authz.target.host must be a loopback address: the sidecar is local');
  return endpointCluster(AUTHZ_CLUSTER, host, checkPort('authz.target.port', target.port, false), common);
}

function extAuthzFilter(opts: BootstrapOptions, maxBody: number): Record<string, unknown> {
  return {
    name: 'envoy.filters.http.ext_authz',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
      grpc_service: {
        envoy_grpc: { cluster_name: AUTHZ_CLUSTER },
        timeout: duration(checkPositiveInt('authz.timeoutMs', opts.authz.timeoutMs, DEFAULT_AUTHZ_TIMEOUT_MS, 10_000)),
      },
      transport_api_version: 'V3',
      // Fail closed: an unreachable, slow or broken sidecar is a 503, never a pass.
      failure_mode_allow: false,
      status_on_error: { code: 503 },
      include_peer_certificate: true,
      encode_raw_headers: true,
      with_request_body: {
        max_request_bytes: maxBody,
        allow_partial_message: true,
        pack_as_bytes: true,
      },
      // The sidecar may only add/remove headers and query parameters it is meant to; never
      // re-route the request after the decision.
      clear_route_cache: false,
      // Envoy's own mutation check refuses any query value outside a narrow character set (a
      // FHIR reference such as `Patient/123` included) and inserts accepted values unencoded.
      // fhirgate-authz therefore percent-encodes every query key and value and sanitizes every
      // header it sets itself (src/envoy/respond.ts), and Envoy's check stays off.
      validate_mutations: false,
    },
  };
}

function headerHygieneFilter(): Record<string, unknown> {
  // First in the chain, for two reasons:
  //  - requests: every client-sent `x-envoy-*` header is dropped before ext_authz, the access log
  //    or the upstream see it. Envoy only sanitizes a fixed list for external requests, which
  //    leaves e.g. `x-envoy-original-path` — a forged one would change the path the access log
  //    records;
  //  - responses: it also runs on local replies from later filters (ext_authz denials, 413s from
  //    the buffer filter); a route's response_headers_to_add only applies to routed responses.
  return {
    name: 'envoy.filters.http.header_mutation',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation',
      mutations: {
        request_mutations: [{ remove_on_match: { key_matcher: { prefix: 'x-envoy-' } } }],
        response_mutations: SECURITY_RESPONSE_HEADERS.map(([key, value]) => ({
          append: { header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
        })),
      },
    },
  };
}

function normalizeBasePath(p: string | undefined): string {
  const base = p ?? '/fhir';
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(base) || base.includes('//') || /(^|\/)\.\.?(\/|$)/.test(base)) {
    throw new TypeError('fhirBasePath must be an absolute, normalized path such as /fhir');
  }
  return base.length > 1 && base.endsWith('/') ? base.slice(0, -1) : base;
}

function routeConfig(opts: BootstrapOptions): Record<string, unknown> {
  const base = normalizeBasePath(opts.fhirBasePath);
  const upstreamTimeout = checkPositiveInt('upstream.timeoutMs', opts.upstream.timeoutMs, 30_000, 3_600_000);
  const stripped = [...STRIPPED_REQUEST_HEADERS];
  if (opts.forwardAuthorization === false) stripped.push('authorization');
  const match = base === '/' ? { prefix: '/' } : { path_separated_prefix: base };
  return {
    name: 'fhir',
    validate_clusters: true,
    request_headers_to_remove: stripped,
    virtual_hosts: [
      {
        name: 'fhir',
        domains: ['*'],
        routes: [
          { match, route: { cluster: UPSTREAM_CLUSTER, timeout: duration(upstreamTimeout) } },
          // Nothing outside the FHIR base reaches the upstream, whatever the sidecar says.
          { match: { prefix: '/' }, direct_response: { status: 404 } },
        ],
      },
    ],
  };
}

function tracingConfig(opts: BootstrapOptions, serviceName: string): Record<string, unknown> | undefined {
  if (opts.tracing === undefined) return undefined;
  const sampling = opts.tracing.samplingPercent ?? 100;
  if (!(sampling >= 0 && sampling <= 100)) throw new TypeError('tracing.samplingPercent must be in 0..100');
  return {
    provider: {
      name: 'envoy.tracers.opentelemetry',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
        grpc_service: { envoy_grpc: { cluster_name: TRACING_CLUSTER }, timeout: '1s' },
        service_name: serviceName,
      },
    },
    random_sampling: { value: sampling },
  };
}

function httpConnectionManager(opts: BootstrapOptions, serviceName: string, maxBody: number): Record<string, unknown> {
  const requestTimeout = checkPositiveInt('requestTimeoutMs', opts.requestTimeoutMs, 60_000, 3_600_000);
  const tracing = tracingConfig(opts, serviceName);
  return {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: 'fhir_ingress',
    codec_type: 'AUTO',
    // Paths: the sidecar decides on exactly the path the FHIR server will see.
    normalize_path: true,
    merge_slashes: true,
    path_with_escaped_slashes_action: 'REJECT_REQUEST',
    strip_trailing_host_dot: true,
    // Headers: caps, and no underscore names (x_forwarded_for would be read as x-forwarded-for
    // by some servers but ignored by the sidecar).
    max_request_headers_kb: checkPositiveInt('maxRequestHeadersKb', opts.maxRequestHeadersKb, DEFAULT_MAX_REQUEST_HEADERS_KB, 96),
    common_http_protocol_options: {
      headers_with_underscores_action: 'REJECT_REQUEST',
      max_headers_count: 100,
      idle_timeout: '300s',
    },
    http_protocol_options: { accept_http_10: false },
    http2_protocol_options: { max_concurrent_streams: 100 },
    // Client address: the TCP peer, not a client-supplied X-Forwarded-For; no address counts as
    // internal (Envoy's own x-envoy-* sanitizing applies to every request; the header-hygiene
    // filter then drops any client x-envoy-* header it does not know).
    use_remote_address: true,
    xff_num_trusted_hops: 0,
    skip_xff_append: false,
    internal_address_config: { unix_sockets: false, cidr_ranges: [] },
    generate_request_id: true,
    preserve_external_request_id: false,
    request_timeout: duration(requestTimeout),
    request_headers_timeout: '10s',
    stream_idle_timeout: '30s',
    server_header_transformation: 'OVERWRITE',
    server_name: SERVER_NAME,
    route_config: routeConfig(opts),
    http_filters: [
      headerHygieneFilter(),
      extAuthzFilter(opts, maxBody),
      {
        name: 'envoy.filters.http.buffer',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer',
          max_request_bytes: maxBody,
        },
      },
      {
        name: 'envoy.filters.http.router',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
          // Do not tell clients about Envoy's internals (x-envoy-upstream-service-time etc.).
          suppress_envoy_headers: true,
        },
      },
    ],
    access_log: [accessLogger(opts.accessLogPath)],
    ...(tracing === undefined ? {} : { tracing }),
  };
}

/** Build the Envoy bootstrap for one FHIR workload. Throws TypeError for invalid options. */
export function generateBootstrap(opts: BootstrapOptions): EnvoyBootstrap {
  const serviceName = opts.serviceName ?? 'fhirgate';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(serviceName)) throw new TypeError('serviceName must be a short DNS-like name');
  const adminHost = checkHost('admin.address', opts.admin.address ?? '127.0.0.1');
  if (!LOOPBACK.has(adminHost) || adminHost === 'localhost') {
    throw new TypeError('admin.address must be 127.0.0.1 or ::1: the admin API must never be reachable off-host');
  }
  const maxBody = checkPositiveInt(
    'authz.maxRequestBodyBytes',
    opts.authz.maxRequestBodyBytes,
    DEFAULT_MAX_REQUEST_BODY_BYTES,
    16 * 1024 * 1024,
  );
  const listenerHost = checkHost('listener.address', opts.listener.address);
  const listener: Record<string, unknown> = {
    name: LISTENER_NAME,
    address: socketAddress(listenerHost, checkPort('listener.port', opts.listener.port, true)),
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: httpConnectionManager(opts, serviceName, maxBody),
          },
        ],
        ...(opts.tls === undefined ? {} : { transport_socket: downstreamTransportSocket(opts.tls) }),
      },
    ],
  };
  const clusters: Record<string, unknown>[] = [
    authzCluster(opts.authz.target),
    endpointCluster(
      UPSTREAM_CLUSTER,
      checkHost('upstream.host', opts.upstream.host),
      checkPort('upstream.port', opts.upstream.port, false),
      {},
    ),
  ];
  if (opts.tracing !== undefined) {
    clusters.push(
      endpointCluster(
        TRACING_CLUSTER,
        checkHost('tracing.host', opts.tracing.host),
        checkPort('tracing.port', opts.tracing.port, false),
        { typed_extension_protocol_options: HTTP2_UPSTREAM },
      ),
    );
  }
  return {
    node: { id: `${serviceName}-envoy`, cluster: serviceName },
    admin: { address: socketAddress(adminHost, checkPort('admin.port', opts.admin.port, true)) },
    static_resources: { listeners: [listener], clusters },
    // Bound what one misbehaving client can pin in memory, and refuse new connections well
    // before the process is at risk.
    overload_manager: {
      resource_monitors: [
        {
          name: 'envoy.resource_monitors.global_downstream_max_connections',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig',
            max_active_downstream_connections: 10000,
          },
        },
      ],
    },
  };
}
