import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jwtVerify, importJWK } from 'jose';
import { AUTHZ_CLUSTER, UPSTREAM_CLUSTER, generateBootstrap } from '../../../src/envoy/bootstrap.ts';
import { ingest } from '../../../src/envoy/ingest.ts';
import type { CheckRequest } from '../../../src/envoy/check-types.ts';
import { BenchIssuer } from '../../bench/lib/bench-issuer.ts';
import { BENCH_PATH, checkRequestJson, checkRequestObject } from '../../bench/lib/check-request.ts';
import { withAuthzPort, withoutExtAuthz } from '../../bench/lib/plain-envoy.ts';
import { checkOnce } from '../../bench/lib/servers.ts';
import { OK_RESPONSE, startNoopServer } from '../../bench/noop-server.ts';
import { measureAuthenticator, measureJoseRaw } from '../../bench/jose-raw.ts';
import { sidecarConfig } from '../../../src/cli/dev/sidecar-config.ts';
import type { TokenConfig } from '../../../src/token/config.ts';

test('the benchmark CheckRequest ingests like Envoy traffic: one bearer token, query inside path', () => {
  const r = ingest(checkRequestObject('aaa.bbb.ccc', '7d1c2b9e-0000-4000-8000-000000000001') as CheckRequest);
  assert.equal(r.ok, true);
  if (!r.ok) return;
  assert.equal(r.request.method, 'GET');
  assert.equal(`${r.request.path}?${r.request.rawQuery}`, BENCH_PATH);
  assert.equal(r.request.headers.get('authorization'), 'Bearer aaa.bbb.ccc');
  assert.equal(r.request.duplicateHeaders.size, 0);
  // The ghz (proto3 JSON) form carries the same header bytes, base64-encoded.
  const json = checkRequestJson('aaa.bbb.ccc') as { attributes: { request: { http: { header_map: { headers: Array<{ key: string; raw_value: string }> } } } } };
  const auth = json.attributes.request.http.header_map.headers.find((h) => h.key === 'authorization');
  assert.equal(Buffer.from(auth?.raw_value ?? '', 'base64').toString('latin1'), 'Bearer aaa.bbb.ccc');
});

test('BenchIssuer mints distinct RS256 at+jwt tokens that verify against its served JWKS', async () => {
  const issuer = await BenchIssuer.start();
  try {
    const tokens = await issuer.mint('patient-app', 3);
    assert.equal(new Set(tokens).size, 3);
    const res = await fetch(`${issuer.issuer}/.well-known/openid-configuration`);
    const disco = (await res.json()) as { jwks_uri: string; issuer: string };
    assert.equal(disco.issuer, issuer.issuer);
    const jwks = (await (await fetch(disco.jwks_uri)).json()) as { keys: Array<Record<string, unknown>> };
    const key = await importJWK(jwks.keys[0] as Parameters<typeof importJWK>[0], 'RS256');
    const jtis = new Set<string>();
    for (const t of tokens) {
      const { payload, protectedHeader } = await jwtVerify(t, key, { issuer: issuer.issuer, audience: issuer.audience, typ: 'at+jwt' });
      assert.equal(protectedHeader.alg, 'RS256');
      assert.equal(payload['patient'], 'example-patient-1');
      assert.match(String(payload['scope']), /patient\/Observation\.rs/);
      jtis.add(String(payload.jti));
    }
    assert.equal(jtis.size, 3);
    await assert.rejects(issuer.mint('nobody', 1), TypeError);
    assert.equal((await fetch(`${issuer.issuer}/nope`)).status, 404);
  } finally {
    await issuer.close();
  }
});

test('the no-op server answers every Check with the fixed OK response', async () => {
  const srv = await startNoopServer('127.0.0.1:0', 65536);
  try {
    assert.match(srv.address, /^127\.0\.0\.1:\d+$/);
    assert.equal(await checkOnce(srv.address, checkRequestObject('x.y.z')), 'allow');
    assert.equal(OK_RESPONSE.status.code, 0);
  } finally {
    await srv.stop();
  }
});

test('withoutExtAuthz removes only ext_authz from the generated bootstrap', () => {
  const b = generateBootstrap({
    listener: { address: '127.0.0.1', port: 10000 },
    upstream: { host: '127.0.0.1', port: 8080 },
    authz: { target: { kind: 'tcp', host: '127.0.0.1', port: 9191 } },
    admin: { port: 9901 },
    accessLogPath: '/tmp/a.log',
  });
  const before = JSON.stringify(b);
  const plain = withoutExtAuthz(b, '/tmp/plain.log');
  assert.equal(JSON.stringify(b), before, 'input untouched');
  const text = JSON.stringify(plain);
  const filterNames = (doc: unknown): string[] => {
    const d = doc as {
      static_resources: { listeners: Array<{ filter_chains: Array<{ filters: Array<{ typed_config: { http_filters: Array<{ name: string }> } }> }> }> };
    };
    return d.static_resources.listeners[0]?.filter_chains[0]?.filters[0]?.typed_config.http_filters.map((f) => f.name) ?? [];
  };
  assert.deepEqual(
    filterNames(plain),
    filterNames(b).filter((n) => n !== 'envoy.filters.http.ext_authz'),
  );
  assert.ok(filterNames(b).includes('envoy.filters.http.ext_authz'));
  assert.ok(text.includes('/tmp/plain.log') && !text.includes('/tmp/a.log'));
  assert.ok(!text.includes('"port_value":10000') && !text.includes('"port_value":9901'));
  // The upstream cluster keeps its port.
  assert.ok(text.includes('"port_value":8080'));
  assert.throws(() => withoutExtAuthz(plain, '/tmp/x.log'), /exactly one ext_authz/);
});

test('jose raw and the token layer both verify every bench token once (none served from cache)', async () => {
  const issuer = await BenchIssuer.start();
  try {
    const tokens = await issuer.mint('patient-app', 12);
    const jwk = issuer.jwks.keys[0];
    assert.ok(jwk !== undefined);
    const raw = await measureJoseRaw(tokens, jwk, { issuer: issuer.issuer, audience: issuer.audience, warmup: 2 });
    assert.equal(raw.verified, 10);
    assert.ok(raw.cpuSeconds > 0 && raw.usPerVerify > 0);
    const auth = sidecarConfig({ issuer: issuer.issuer, audience: issuer.audience, addressFile: '/unused', maxBodyBytes: 1024 })['auth'] as TokenConfig;
    const layer = await measureAuthenticator(tokens, auth, 2);
    assert.equal(layer.verified, 10);
    // A token signed by another key is not "fresh": the token layer rejects it and the run fails.
    const other = await BenchIssuer.start();
    try {
      const foreign = await other.mint('patient-app', 4);
      await assert.rejects(measureAuthenticator(foreign, auth, 0), /expected a fresh verified token/);
    } finally {
      await other.close();
    }
  } finally {
    await issuer.close();
  }
});

test('withAuthzPort points only the ext_authz cluster at another loopback port', () => {
  const b = generateBootstrap({
    listener: { address: '127.0.0.1', port: 10000 },
    upstream: { host: '127.0.0.1', port: 8080 },
    authz: { target: { kind: 'unix', path: '/tmp/authz.sock' } },
    admin: { port: 9901 },
    accessLogPath: '/tmp/a.log',
  });
  const v = withAuthzPort(b, 45678, '/tmp/noop.log') as { static_resources: { clusters: Array<{ name: string }> } };
  const text = JSON.stringify(v);
  assert.ok(text.includes('envoy.filters.http.ext_authz'), 'ext_authz stays');
  const authz = v.static_resources.clusters.find((c) => c.name === AUTHZ_CLUSTER);
  assert.match(JSON.stringify(authz), /"port_value":45678/);
  assert.ok(!JSON.stringify(authz).includes('authz.sock'));
  assert.match(JSON.stringify(v.static_resources.clusters.find((c) => c.name === UPSTREAM_CLUSTER)), /"port_value":8080/);
  assert.ok(text.includes('/tmp/noop.log') && !text.includes('"port_value":10000'));
  assert.throws(() => withAuthzPort(b, 0, '/tmp/x.log'), TypeError);
});
