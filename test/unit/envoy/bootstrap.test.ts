import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AUTHZ_CLUSTER,
  DEFAULT_AUTHZ_TIMEOUT_MS,
  SECURITY_RESPONSE_HEADERS,
  SERVER_NAME,
  UPSTREAM_CLUSTER,
  duration,
  generateBootstrap,
} from '../../../src/envoy/bootstrap.ts';
import type { BootstrapOptions } from '../../../src/envoy/bootstrap.ts';
import { TLS12_CIPHER_SUITES, generateSdsFiles } from '../../../src/envoy/bootstrap-tls.ts';
import { ACCESS_LOG_FORMAT } from '../../../src/envoy/bootstrap-access-log.ts';

type Obj = Record<string, unknown>;

const base: BootstrapOptions = {
  listener: { address: '127.0.0.1', port: 0 },
  upstream: { host: '127.0.0.1', port: 8080 },
  authz: { target: { kind: 'tcp', host: '127.0.0.1', port: 9191 } },
  admin: { port: 0 },
};

function obj(v: unknown): Obj {
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `expected an object, got ${JSON.stringify(v)}`);
  return v as Obj;
}
function arr(v: unknown): unknown[] {
  assert.ok(Array.isArray(v), `expected an array, got ${JSON.stringify(v)}`);
  return v;
}

/** The pieces of a generated bootstrap the invariants talk about. */
function parts(b: Obj) {
  const listener = obj(arr(obj(b['static_resources'])['listeners'])[0]);
  const chain = obj(arr(listener['filter_chains'])[0]);
  const hcm = obj(obj(arr(chain['filters'])[0])['typed_config']);
  const filters = arr(hcm['http_filters']).map(obj);
  const byName = (n: string): Obj => {
    const f = filters.find((x) => x['name'] === n);
    assert.ok(f, `filter ${n} missing`);
    return obj(f['typed_config']);
  };
  const clusters = arr(obj(b['static_resources'])['clusters']).map(obj);
  return { listener, chain, hcm, filters, byName, clusters, routeConfig: obj(hcm['route_config']) };
}

/** Round-trip through JSON: what Envoy reads is exactly what we assert on. */
function gen(opts: BootstrapOptions): Obj {
  return obj(JSON.parse(JSON.stringify(generateBootstrap(opts))));
}

describe('generateBootstrap: ext_authz', () => {
  it('fails closed, speaks V3, forwards the peer certificate and raw headers', () => {
    const authz = parts(gen(base)).byName('envoy.filters.http.ext_authz');
    assert.equal(authz['failure_mode_allow'], false);
    assert.equal(authz['transport_api_version'], 'V3');
    assert.equal(authz['include_peer_certificate'], true);
    assert.equal(authz['encode_raw_headers'], true);
    assert.deepEqual(authz['status_on_error'], { code: 503 });
    assert.deepEqual(obj(authz['grpc_service'])['envoy_grpc'], { cluster_name: AUTHZ_CLUSTER });
    assert.equal(obj(authz['grpc_service'])['timeout'], duration(DEFAULT_AUTHZ_TIMEOUT_MS));
    assert.equal(obj(authz['grpc_service'])['timeout'], '0.250s');
  });

  it('caps the forwarded body and flags partial bodies', () => {
    const authz = parts(gen({ ...base, authz: { ...base.authz, maxRequestBodyBytes: 1234 } })).byName('envoy.filters.http.ext_authz');
    assert.deepEqual(authz['with_request_body'], { max_request_bytes: 1234, allow_partial_message: true, pack_as_bytes: true });
  });

  it('backs the body cap with a buffer filter after ext_authz so larger bodies cannot stream through', () => {
    const p = parts(gen({ ...base, authz: { ...base.authz, maxRequestBodyBytes: 4096 } }));
    const names = p.filters.map((f) => f['name']);
    assert.deepEqual(names, [
      'envoy.filters.http.header_mutation',
      'envoy.filters.http.ext_authz',
      'envoy.filters.http.buffer',
      'envoy.filters.http.router',
    ]);
    assert.equal(p.byName('envoy.filters.http.buffer')['max_request_bytes'], 4096);
  });

  it('uses the configured timeout', () => {
    const authz = parts(gen({ ...base, authz: { ...base.authz, timeoutMs: 100 } })).byName('envoy.filters.http.ext_authz');
    assert.equal(obj(authz['grpc_service'])['timeout'], '0.100s');
  });

  it('reaches the sidecar over HTTP/2 on loopback or a Unix socket', () => {
    const tcp = parts(gen(base)).clusters.find((c) => c['name'] === AUTHZ_CLUSTER);
    assert.ok(tcp);
    assert.match(JSON.stringify(tcp['typed_extension_protocol_options']), /http2_protocol_options/);
    const unix = parts(gen({ ...base, authz: { target: { kind: 'unix', path: '/run/fhirgate/authz.sock' } } })).clusters.find(
      (c) => c['name'] === AUTHZ_CLUSTER,
    );
    assert.ok(unix);
    assert.match(JSON.stringify(unix['load_assignment']), /"pipe":\{"path":"\/run\/fhirgate\/authz.sock"\}/);
  });
});

describe('generateBootstrap: HTTP connection manager', () => {
  it('normalizes paths and rejects escaped slashes and underscore headers', () => {
    const { hcm } = parts(gen(base));
    assert.equal(hcm['normalize_path'], true);
    assert.equal(hcm['merge_slashes'], true);
    assert.equal(hcm['path_with_escaped_slashes_action'], 'REJECT_REQUEST');
    assert.equal(obj(hcm['common_http_protocol_options'])['headers_with_underscores_action'], 'REJECT_REQUEST');
    assert.equal(hcm['strip_trailing_host_dot'], true);
  });

  it('caps headers, sets timeouts and trusts only the TCP peer address', () => {
    const { hcm } = parts(gen(base));
    assert.equal(hcm['max_request_headers_kb'], 32);
    assert.equal(hcm['use_remote_address'], true);
    assert.equal(hcm['xff_num_trusted_hops'], 0);
    assert.deepEqual(hcm['internal_address_config'], { unix_sockets: false, cidr_ranges: [] });
    assert.equal(typeof hcm['request_timeout'], 'string');
    assert.equal(typeof hcm['request_headers_timeout'], 'string');
    assert.equal(typeof hcm['stream_idle_timeout'], 'string');
    assert.equal(hcm['server_header_transformation'], 'OVERWRITE');
    assert.equal(hcm['server_name'], SERVER_NAME);
  });

  it('strips cookies and hop-by-hop headers before the upstream; Authorization only when asked', () => {
    const removed = arr(parts(gen(base)).routeConfig['request_headers_to_remove']);
    for (const h of ['cookie', 'proxy-authorization', 'connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade']) {
      assert.ok(removed.includes(h), `${h} not stripped`);
    }
    assert.ok(!removed.includes('authorization'));
    const strict = arr(parts(gen({ ...base, forwardAuthorization: false })).routeConfig['request_headers_to_remove']);
    assert.ok(strict.includes('authorization'));
  });

  it('adds the security response headers in a filter that also covers local replies', () => {
    const mutation = parts(gen(base)).byName('envoy.filters.http.header_mutation');
    const added = arr(obj(mutation['mutations'])['response_mutations']).map((m) => obj(obj(obj(m)['append'])['header']));
    assert.deepEqual(
      added.map((h) => [h['key'], h['value']]),
      SECURITY_RESPONSE_HEADERS.map(([k, v]) => [k, v]),
    );
    const names = added.map((h) => h['key']);
    // The same filter drops every client-sent x-envoy-* header (a forged x-envoy-original-path
    // would otherwise change the path the access log records).
    assert.deepEqual(obj(mutation['mutations'])['request_mutations'], [{ remove_on_match: { key_matcher: { prefix: 'x-envoy-' } } }]);
    for (const h of ['strict-transport-security', 'x-content-type-options', 'cache-control', 'pragma']) assert.ok(names.includes(h));
  });

  it('routes only the FHIR base to the upstream and answers 404 elsewhere', () => {
    const vh = obj(arr(parts(gen({ ...base, fhirBasePath: '/r4' })).routeConfig['virtual_hosts'])[0]);
    const routes = arr(vh['routes']).map(obj);
    assert.deepEqual(routes[0]?.['match'], { path_separated_prefix: '/r4' });
    assert.equal(obj(routes[0]?.['route'])['cluster'], UPSTREAM_CLUSTER);
    assert.deepEqual(routes[1], { match: { prefix: '/' }, direct_response: { status: 404 } });
  });

  it('never puts the query string, Authorization or Cookie into the access log', () => {
    const { hcm } = parts(gen({ ...base, accessLogPath: '/var/log/envoy/access.log' }));
    const logger = obj(arr(hcm['access_log'])[0]);
    const text = JSON.stringify(logger);
    assert.match(text, /REQ_WITHOUT_QUERY\(X-ENVOY-ORIGINAL-PATH\?:PATH\)/);
    assert.doesNotMatch(text, /%REQ\(:PATH\)%|%REQ\(X-ENVOY-ORIGINAL-PATH/i);
    assert.doesNotMatch(text, /authorization|cookie|referer|user-agent|QUERY_PARAM/i);
    assert.equal(obj(logger['typed_config'])['path'], '/var/log/envoy/access.log');
    for (const field of ['method', 'path', 'status', 'response_flags', 'duration_ms', 'request_id', 'upstream_host', 'authz_reason']) {
      assert.ok(Object.hasOwn(ACCESS_LOG_FORMAT, field), `${field} missing`);
    }
  });

  it('logs to stdout when no path is given', () => {
    const logger = obj(arr(parts(gen(base)).hcm['access_log'])[0]);
    assert.equal(logger['name'], 'envoy.access_loggers.stdout');
  });

  it('adds OpenTelemetry tracing and its cluster only when asked', () => {
    assert.equal(parts(gen(base)).hcm['tracing'], undefined);
    const p = parts(gen({ ...base, serviceName: 'fhir-a', tracing: { host: 'otel-collector', port: 4317, samplingPercent: 5 } }));
    const tracing = obj(p.hcm['tracing']);
    assert.deepEqual(tracing['random_sampling'], { value: 5 });
    assert.equal(obj(obj(tracing['provider'])['typed_config'])['service_name'], 'fhir-a');
    const otlp = p.clusters.find((c) => c['name'] === 'otlp_collector');
    assert.ok(otlp);
    assert.equal(otlp['type'], 'STRICT_DNS');
  });
});

describe('generateBootstrap: TLS', () => {
  const tls = { certDir: '/etc/fhirgate/tls', sdsDir: '/etc/fhirgate/sds' };

  it('is plain HTTP without TLS options', () => {
    assert.equal(parts(gen(base)).chain['transport_socket'], undefined);
  });

  it('allows TLS 1.2+ with ECDHE AEAD suites only, certificates via watched SDS files', () => {
    const ts = obj(parts(gen({ ...base, tls })).chain['transport_socket']);
    const ctx = obj(ts['typed_config']);
    assert.equal(ctx['require_client_certificate'], false);
    const common = obj(ctx['common_tls_context']);
    const params = obj(common['tls_params']);
    assert.equal(params['tls_minimum_protocol_version'], 'TLSv1_2');
    for (const suite of arr(params['cipher_suites'])) assert.match(String(suite), /^ECDHE-(ECDSA|RSA)-(AES\d+-GCM|CHACHA20-POLY1305)/);
    assert.deepEqual(params['cipher_suites'], [...TLS12_CIPHER_SUITES]);
    const sds = obj(obj(arr(common['tls_certificate_sds_secret_configs'])[0])['sds_config']);
    assert.deepEqual(sds['path_config_source'], {
      path: '/etc/fhirgate/sds/server-cert.json',
      watched_directory: { path: '/etc/fhirgate/sds' },
    });
    assert.equal(common['validation_context_sds_secret_config'], undefined);
  });

  it('requires a verified client certificate for mTLS', () => {
    const ctx = obj(obj(parts(gen({ ...base, tls: { ...tls, clientCaFile: 'ca.crt' } })).chain['transport_socket'])['typed_config']);
    assert.equal(ctx['require_client_certificate'], true);
    assert.ok(obj(ctx['common_tls_context'])['validation_context_sds_secret_config']);
  });

  it('writes SDS resources that watch the certificate directory for atomic swaps', () => {
    const files = generateSdsFiles({ ...tls, clientCaFile: 'ca.crt' });
    assert.deepEqual(Object.keys(files).sort(), ['client-ca.json', 'server-cert.json']);
    const cert = obj(obj(arr(obj(files['server-cert.json'])['resources'])[0])['tls_certificate']);
    assert.deepEqual(cert['certificate_chain'], { filename: '/etc/fhirgate/tls/tls.crt' });
    assert.deepEqual(cert['private_key'], { filename: '/etc/fhirgate/tls/tls.key' });
    assert.deepEqual(cert['watched_directory'], { path: '/etc/fhirgate/tls' });
    const ca = obj(obj(arr(obj(files['client-ca.json'])['resources'])[0])['validation_context']);
    assert.deepEqual(ca['trusted_ca'], { filename: '/etc/fhirgate/tls/ca.crt' });
  });

  it('rejects relative directories, path-like file names and mTLS without a CA', () => {
    assert.throws(() => generateBootstrap({ ...base, tls: { certDir: 'tls', sdsDir: '/x' } }), TypeError);
    assert.throws(() => generateBootstrap({ ...base, tls: { ...tls, certFile: '../x.crt' } }), TypeError);
    assert.throws(() => generateBootstrap({ ...base, tls: { ...tls, requireClientCertificate: true } }), TypeError);
  });
});

describe('generateBootstrap: option validation', () => {
  it('keeps the admin API on loopback', () => {
    assert.throws(() => generateBootstrap({ ...base, admin: { address: '0.0.0.0', port: 9901 } }), /loopback|127\.0\.0\.1/);
    assert.throws(() => generateBootstrap({ ...base, admin: { address: '10.0.0.1', port: 9901 } }), TypeError);
    const b = gen({ ...base, admin: { address: '::1', port: 9901 } });
    assert.deepEqual(obj(b['admin'])['address'], { socket_address: { address: '::1', port_value: 9901 } });
  });

  it('keeps the sidecar on loopback', () => {
    assert.throws(() => generateBootstrap({ ...base, authz: { target: { kind: 'tcp', host: '10.1.2.3', port: 9191 } } }), TypeError);
    assert.throws(() => generateBootstrap({ ...base, authz: { target: { kind: 'unix', path: 'relative.sock' } } }), TypeError);
  });

  it('rejects bad ports, sizes, timeouts and base paths', () => {
    assert.throws(() => generateBootstrap({ ...base, listener: { address: '0.0.0.0', port: 70000 } }), TypeError);
    assert.throws(() => generateBootstrap({ ...base, upstream: { host: '127.0.0.1', port: 0 } }), TypeError);
    assert.throws(() => generateBootstrap({ ...base, authz: { ...base.authz, timeoutMs: 0 } }), TypeError);
    assert.throws(() => generateBootstrap({ ...base, authz: { ...base.authz, maxRequestBodyBytes: -1 } }), TypeError);
    assert.throws(() => generateBootstrap({ ...base, fhirBasePath: '/fhir/../admin' }), TypeError);
    assert.throws(() => generateBootstrap({ ...base, fhirBasePath: 'fhir' }), TypeError);
    assert.throws(() => generateBootstrap({ ...base, serviceName: 'bad name' }), TypeError);
  });

  it('is deterministic and JSON-serializable', () => {
    assert.deepEqual(gen(base), gen(base));
    assert.deepEqual(JSON.parse(JSON.stringify(generateBootstrap(base))), generateBootstrap(base));
  });
});

describe('generateBootstrap: no option combination weakens the guarantees (property)', () => {
  const options = fc.record(
    {
      serviceName: fc.constantFrom('fhirgate', 'fhir-a', 'x.y-z'),
      listener: fc.record({ address: fc.constantFrom('0.0.0.0', '127.0.0.1', '::'), port: fc.integer({ min: 0, max: 65535 }) }),
      tls: fc.option(
        fc.oneof(
          fc.constant({ certDir: '/etc/tls', sdsDir: '/etc/sds' }),
          fc.record({
            certDir: fc.constant('/etc/tls'),
            sdsDir: fc.constant('/etc/sds'),
            clientCaFile: fc.constantFrom('ca.crt', 'bundle.pem'),
            requireClientCertificate: fc.boolean(),
          }),
        ),
        { nil: undefined },
      ),
      upstream: fc.record({ host: fc.constantFrom('127.0.0.1', 'fhir.default.svc'), port: fc.integer({ min: 1, max: 65535 }) }),
      fhirBasePath: fc.constantFrom('/', '/fhir', '/fhir/r4', '/baseR4/'),
      authz: fc.record({
        target: fc.oneof(
          fc.record({ kind: fc.constant('tcp' as const), host: fc.constantFrom('127.0.0.1', '::1'), port: fc.integer({ min: 1, max: 65535 }) }),
          fc.record({ kind: fc.constant('unix' as const), path: fc.constant('/run/authz.sock') }),
        ),
        timeoutMs: fc.integer({ min: 1, max: 10_000 }),
        maxRequestBodyBytes: fc.integer({ min: 1, max: 16 * 1024 * 1024 }),
      }),
      admin: fc.record({ address: fc.constantFrom('127.0.0.1', '::1'), port: fc.integer({ min: 0, max: 65535 }) }),
      accessLogPath: fc.option(fc.constantFrom('/dev/stdout', '/tmp/a.log'), { nil: undefined }),
      tracing: fc.option(fc.record({ host: fc.constant('otel'), port: fc.constant(4317), samplingPercent: fc.integer({ min: 0, max: 100 }) }), {
        nil: undefined,
      }),
      maxRequestHeadersKb: fc.integer({ min: 1, max: 96 }),
      requestTimeoutMs: fc.integer({ min: 1, max: 3_600_000 }),
      forwardAuthorization: fc.boolean(),
    },
    { requiredKeys: ['listener', 'upstream', 'authz', 'admin'] },
  );

  it('always fails closed, normalizes paths and strips cookies', () => {
    fc.assert(
      fc.property(options, (opts) => {
        const p = parts(gen(opts as BootstrapOptions));
        const authz = p.byName('envoy.filters.http.ext_authz');
        assert.equal(authz['failure_mode_allow'], false);
        assert.deepEqual(authz['status_on_error'], { code: 503 });
        assert.equal(obj(authz['with_request_body'])['allow_partial_message'], true);
        assert.equal(p.hcm['normalize_path'], true);
        assert.equal(p.hcm['merge_slashes'], true);
        assert.equal(p.hcm['path_with_escaped_slashes_action'], 'REJECT_REQUEST');
        assert.equal(obj(p.hcm['common_http_protocol_options'])['headers_with_underscores_action'], 'REJECT_REQUEST');
        assert.ok(arr(p.routeConfig['request_headers_to_remove']).includes('cookie'));
        // ext_authz always runs before the router, and nothing disables it per route.
        const names = p.filters.map((f) => f['name']);
        assert.ok(names.indexOf('envoy.filters.http.ext_authz') < names.indexOf('envoy.filters.http.router'));
        assert.doesNotMatch(JSON.stringify(p.routeConfig), /typed_per_filter_config|disabled/);
        const adminAddr = obj(obj(obj(gen(opts as BootstrapOptions)['admin'])['address'])['socket_address'])['address'];
        assert.ok(adminAddr === '127.0.0.1' || adminAddr === '::1');
      }),
      { numRuns: 200 },
    );
  });
});
