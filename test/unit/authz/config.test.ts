import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseConfig } from '../../../src/authz/config.ts';

const minimal = () => ({
  auth: { issuers: [{ issuer: 'https://issuer.example.test', audiences: ['fhirgate'] }] },
  policy: { apiVersion: 'fhirgate.io/v1alpha1', kind: 'FhirAccessPolicy', metadata: { name: 'p' }, spec: { fhirBasePath: '/fhir' } },
});

test('a minimal config gets documented defaults', () => {
  const c = parseConfig(minimal());
  assert.equal(c.listen.grpc, '127.0.0.1:9191');
  assert.equal(c.listen.http, '127.0.0.1:9090');
  assert.equal(c.body.maxBytes, 1024 * 1024);
  assert.equal(c.log.level, 'info');
  assert.equal(c.audit.sink, 'stdout');
  assert.equal(c.shutdown.graceSeconds, 10);
});

function errorOf(doc: unknown): string {
  try {
    parseConfig(doc);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.message;
  }
  assert.fail('expected ConfigError');
}

test('an unknown field is named', () => {
  assert.match(errorOf({ ...minimal(), lisen: {} }), /\(root\): unknown field "lisen"/);
});

test('a bad nested value names its path', () => {
  const doc = minimal();
  (doc.auth.issuers[0] as Record<string, unknown>)['algorithms'] = ['RS256', 'HS256'];
  assert.match(errorOf(doc), /\/auth\/issuers\/0\/algorithms\/1: must be one of/);
});

test('a public listen address for gRPC other than wildcard/loopback is refused', () => {
  assert.match(errorOf({ ...minimal(), listen: { grpc: '10.0.0.5:9191' } }), /\/listen\/grpc/);
});

test('file sink requires a file', () => {
  assert.match(errorOf({ ...minimal(), audit: { sink: 'file' } }), /\/audit: must have required property 'file'/);
});

test('loadConfig reads YAML, then env, then flags (flags win)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-cfg-'));
  const file = join(dir, 'c.yaml');
  writeFileSync(
    file,
    'auth:\n  issuers:\n    - issuer: https://issuer.example.test\n      audiences: [fhirgate]\npolicyFile: /etc/fhirgate/policy.yaml\nlisten:\n  grpc: 127.0.0.1:1111\n',
  );
  const c = loadConfig({ file, env: { FHIRGATE_LISTEN_GRPC: '127.0.0.1:2222', FHIRGATE_LOG_LEVEL: 'debug' }, overrides: { grpc: 'unix:/tmp/x.sock' } });
  assert.equal(c.listen.grpc, 'unix:/tmp/x.sock');
  assert.equal(c.log.level, 'debug');
});

test('duplicate keys in the YAML file are an error, not last-wins', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-cfg-'));
  const file = join(dir, 'c.yaml');
  writeFileSync(file, 'policy: {}\npolicy: {}\n');
  assert.throws(() => loadConfig({ file }), /not valid YAML/);
});

test('a missing file is a clean ConfigError', () => {
  assert.throws(() => loadConfig({ file: '/nonexistent/fhirgate.yaml' }), /cannot read \/nonexistent\/fhirgate\.yaml: ENOENT/);
});

test('exactly one of policy and policyFile', () => {
  const { policy: _p, ...rest } = minimal();
  assert.match(errorOf(rest), /\(root\): must match exactly one schema in oneOf/);
  assert.match(errorOf({ ...minimal(), policyFile: '/x.yaml' }), /must match exactly one schema in oneOf/);
});

test('an invalid inline policy names the policy field', () => {
  const doc = minimal();
  (doc.policy.spec as Record<string, unknown>)['search'] = { maxCount: 0 };
  assert.match(errorOf(doc), /\/policy\/spec\/search\/maxCount: must be >= 1/);
});
