import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { ManualClock } from '../../../src/core/clock.ts';
import { runExplain, parseExplainArgs } from '../../../src/cli/explain.ts';
import { UsageError } from '../../../src/cli/shared/errors.ts';
import type { CliIo } from '../../../src/cli/shared/io.ts';
import { loadPolicies, selectPolicy } from '../../../src/cli/shared/policies.ts';
import { toCheckRequest } from '../../../src/cli/shared/request.ts';
import { ingest } from '../../../src/envoy/ingest.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const PATIENT_POLICY = path.join(ROOT, 'manifests/examples/patient-app-policy.yaml');
const CLINICIAN_POLICY = path.join(ROOT, 'manifests/examples/clinician-policy.yaml');
const CLAIMS = JSON.stringify({ client_id: 'demo-patient-app', scope: 'patient/Observation.rs patient/Patient.rs', patient: '123' });
const clock = new ManualClock(Date.UTC(2026, 0, 1));

function collector(): CliIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (t) => void (out += t), err: (t) => void (err += t), stdout: () => out, stderr: () => err };
}

async function explainJson(argv: string[]): Promise<{ code: number; json: Record<string, unknown>; stderr: string }> {
  const io = collector();
  const code = await runExplain([...argv, '--json'], io, { clock });
  return { code, json: code === 0 ? (JSON.parse(io.stdout()) as Record<string, unknown>) : {}, stderr: io.stderr() };
}

/** An unsigned-looking but well-formed JWS (the signature is never checked without --auth-config). */
function fakeJwt(claims: Record<string, unknown>): string {
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'ES256', typ: 'at+jwt' })}.${b64(claims)}.${Buffer.from('not-a-signature').toString('base64url')}`;
}

describe('fhirgate explain (in-process)', () => {
  test('an unconfined search under a patient scope is allowed with a narrowing rewrite', async () => {
    const { code, json } = await explainJson(['--policy', PATIENT_POLICY, '--claims', CLAIMS, 'GET', '/fhir/Observation?code=8867-4&_count=500']);
    assert.equal(code, 0);
    assert.equal(json['decision'], 'allow');
    assert.equal(json['status'], 200);
    assert.equal(json['reason'], 'allowed');
    assert.equal(json['phase'], 'authorize');
    assert.match(String(json['rule']), /^scope:patient\/Observation\.rs \(narrowed:patient\)$/);
    assert.deepEqual(json['rewrites'], { set: { patient: 'Patient/123', _count: '50' }, remove: [] });
    assert.deepEqual(json['obligations'], []);
    assert.deepEqual(json['patients'], ['123']);
    assert.equal(json['verified'], false);
    assert.equal(json['credential'], 'claims');
    const req = json['request'] as Record<string, unknown>;
    assert.equal(req['interaction'], 'search-type');
    assert.equal(req['resourceType'], 'Observation');
    assert.deepEqual(req['params'], ['code=8867-4']);
  });

  test('another patient is a 403 with the catalogue text', async () => {
    const { json } = await explainJson(['--policy', PATIENT_POLICY, '--claims', CLAIMS, 'GET', 'https://ehr.example.org/fhir/Observation?patient=456']);
    assert.equal(json['decision'], 'deny');
    assert.equal(json['status'], 403);
    assert.equal(json['reason'], 'patient_compartment_violation');
    assert.match(String(json['reasonText']), /compartment/);
  });

  test('insufficient scope carries the WWW-Authenticate challenge and the scope that would allow', async () => {
    const claims = JSON.stringify({ client_id: 'other', scope: 'patient/Patient.rs', patient: '123' });
    const { json } = await explainJson(['--policy', PATIENT_POLICY, '--claims', claims, 'GET', '/fhir/Condition?patient=123']);
    assert.equal(json['reason'], 'scope_insufficient');
    assert.match(String(json['wwwAuthenticate']), /^Bearer realm="fhirgate", error="insufficient_scope"/);
    assert.equal(json['requiredScope'], 'patient/Condition.s');
  });

  test('instance reads show the verify obligation; --assume-instance no-match shows the 404', async () => {
    const allow = await explainJson(['--policy', PATIENT_POLICY, '--claims', CLAIMS, 'GET', '/fhir/Observation/obs-1']);
    assert.equal(allow.json['decision'], 'allow');
    assert.deepEqual(allow.json['obligations'], [{ kind: 'verify-instance', detail: { resourceType: 'Observation', id: 'obs-1', criteria: 'patient=Patient%2F123' } }]);
    const denied = await explainJson(['--policy', PATIENT_POLICY, '--claims', CLAIMS, '--assume-instance', 'no-match', 'GET', '/fhir/Observation/obs-1']);
    assert.equal(denied.json['status'], 404);
    assert.equal(denied.json['reason'], 'instance_not_in_compartment');
  });

  test('the policy is chosen by fhirBasePath when several are given', async () => {
    const claims = JSON.stringify({ client_id: 'ward', scope: 'user/*.rs', roles: ['physician'] });
    const { json } = await explainJson(['--policy', PATIENT_POLICY, '--policy', CLINICIAN_POLICY, '--claims', claims, 'GET', '/ehr/fhir/Patient/9']);
    assert.equal((json['policy'] as { id: string }).id.startsWith('ehr/clinician@'), true);
    assert.equal(json['decision'], 'allow');
  });

  test('headers and a body reach the pipeline: purpose of use and a batch bundle', async () => {
    const claims = JSON.stringify({ client_id: 'ward', scope: 'user/*.rs', roles: ['physician'] });
    const base = ['--policy', CLINICIAN_POLICY, '--claims', claims];
    assert.equal((await explainJson([...base, 'GET', '/ehr/fhir/Condition/c1'])).json['reason'], 'purpose_of_use_required');
    assert.equal((await explainJson([...base, '--header', 'X-Purpose-Of-Use: TREAT', 'GET', '/ehr/fhir/Condition/c1'])).json['reason'], 'allowed');
    const dir = mkdtempSync(path.join(tmpdir(), 'fhirgate-explain-'));
    try {
      const body = path.join(dir, 'bundle.json');
      writeFileSync(body, JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Observation?patient=123' } }, { request: { method: 'GET', url: 'Observation?patient=456' } }] }));
      const { json } = await explainJson(['--policy', PATIENT_POLICY, '--claims', CLAIMS, '--body', body, 'POST', '/fhir']);
      assert.equal(json['reason'], 'patient_compartment_violation');
      assert.match(String(json['rule']), /^bundle\.entry\[1\]/);
      assert.equal(((json['request'] as { entries: unknown[] }).entries).length, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a token without --auth-config is decoded, flagged unverified, and never printed', async () => {
    const token = fakeJwt({ iss: 'https://issuer.example', sub: 'u1', client_id: 'demo-patient-app', scope: 'patient/Patient.rs', patient: '123', exp: 1_900_000_000 });
    const io = collector();
    const code = await runExplain(['--policy', PATIENT_POLICY, '--token', token, 'GET', '/fhir/Patient/123'], io, { clock });
    assert.equal(code, 0);
    assert.match(io.stdout(), /signature NOT verified/);
    assert.match(io.stdout(), /^decision:\s+ALLOW$/m);
    assert.equal(io.stdout().includes(token), false);
    assert.equal(io.stdout().includes(token.split('.')[1] ?? 'x'), false);
    const j = await explainJson(['--policy', PATIENT_POLICY, '--token', token, 'GET', '/fhir/Patient/123']);
    assert.equal(j.json['verified'], false);
    assert.match(j.stderr, /signature NOT verified/);
    assert.equal(JSON.stringify(j.json).includes(token), false);
  });

  test('a malformed token is the sidecar\'s 401, not a crash', async () => {
    const { code, json } = await explainJson(['--policy', PATIENT_POLICY, '--token', 'a.b.c', 'GET', '/fhir/Patient/123']);
    assert.equal(code, 0);
    assert.equal(json['status'], 401);
    assert.equal(json['phase'], 'authenticate');
    assert.equal(json['reason'], 'token_malformed');
  });

  test('hostile requests are clean denials', async () => {
    for (const url of ['/fhir/Patient/%2e%2e/456', '/fhir/Foo/1', '/fhir/Patient/123#frag', `/fhir/Observation?${'a=b&'.repeat(3000)}`]) {
      const { code, json } = await explainJson(['--policy', PATIENT_POLICY, '--claims', CLAIMS, 'GET', url]);
      assert.equal(code, 0, url);
      assert.equal(json['decision'], 'deny', url);
    }
  });

  test('usage and policy errors exit 2', async () => {
    const cases: string[][] = [
      ['GET', '/fhir/Patient/1'],
      ['--policy', PATIENT_POLICY, 'GET', '/fhir/Patient/1'],
      ['--policy', PATIENT_POLICY, '--claims', '[1]', 'GET', '/fhir/Patient/1'],
      ['--policy', PATIENT_POLICY, '--claims', CLAIMS, '--token', 'x.y.z', 'GET', '/fhir/Patient/1'],
      ['--policy', PATIENT_POLICY, '--claims', CLAIMS, 'GET', 'Patient/1'],
      ['--policy', PATIENT_POLICY, '--claims', CLAIMS, 'GET', '/other/Patient/1'],
      ['--policy', PATIENT_POLICY, '--policy', PATIENT_POLICY, '--claims', CLAIMS, 'GET', '/fhir/Patient/1'],
      ['--policy', '/nonexistent.yaml', '--claims', CLAIMS, 'GET', '/fhir/Patient/1'],
      ['--policy', PATIENT_POLICY, '--claims', CLAIMS, '--header', 'no colon', 'GET', '/fhir/Patient/1'],
      ['--policy', PATIENT_POLICY, '--token', 'opaque-token', 'GET', '/fhir/Patient/1'],
    ];
    for (const argv of cases) {
      const io = collector();
      assert.equal(await runExplain(argv, io, { clock }), 2, argv.join(' '));
      assert.match(io.stderr(), /^fhirgate explain: /, argv.join(' '));
    }
  });

  test('parseExplainArgs rejects a bad method', () => {
    assert.throws(() => parseExplainArgs(['--claims', '{}', 'G E T', '/fhir']), UsageError);
  });
});

describe('shared request building and policy choice', () => {
  test('the request goes through the sidecar ingest: lower-cased names, duplicates, content-length', () => {
    const body = new TextEncoder().encode('{"resourceType":"Bundle"}');
    const r = ingest(toCheckRequest({ method: 'post', url: 'https://h.example/fhir?x=1', headers: [['X-Purpose-Of-Use', 'TREAT'], ['x-purpose-of-use', 'ETREAT']], body }));
    assert.equal(r.ok, true);
    if (!r.ok) return;
    assert.equal(r.request.method, 'POST');
    assert.equal(r.request.path, '/fhir');
    assert.equal(r.request.rawQuery, 'x=1');
    assert.equal(r.request.headers.get('x-purpose-of-use'), 'TREAT');
    assert.equal(r.request.duplicateHeaders.has('x-purpose-of-use'), true);
    assert.equal(r.request.declaredSize, body.byteLength);
    assert.deepEqual(r.request.body, body);
  });

  test('the deepest fhirBasePath wins; equal bases are ambiguous', () => {
    const sources = loadPolicies([PATIENT_POLICY, CLINICIAN_POLICY]);
    assert.equal(selectPolicy(sources, '/ehr/fhir/Patient/1').policy.name, 'ehr/clinician');
    assert.equal(selectPolicy(sources, '/fhir/Patient/1').policy.name, 'ehr/patient-app');
    assert.throws(() => selectPolicy(sources, '/fhirx/Patient/1'), UsageError);
    assert.throws(() => selectPolicy(loadPolicies([PATIENT_POLICY, PATIENT_POLICY]), '/fhir/Patient/1'), /same fhirBasePath/);
  });
});

describe('fhirgate explain (child process)', () => {
  test('node cmd/fhirgate.ts explain … --json prints one JSON object and exits 0', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['cmd/fhirgate.ts', 'explain', '--policy', PATIENT_POLICY, '--claims', CLAIMS, 'GET', '/fhir/Observation?patient=456', '--json'],
      { cwd: ROOT, timeout: 30_000 },
    );
    const json = JSON.parse(stdout) as Record<string, unknown>;
    assert.equal(json['decision'], 'deny');
    assert.equal(json['status'], 403);
    assert.equal(json['reason'], 'patient_compartment_violation');
    assert.equal(json['phase'], 'authorize');
    assert.deepEqual(json['rewrites'], { set: {}, remove: [] });
    assert.equal(json['verified'], false);
  });

  test('a usage error exits 2', async () => {
    await assert.rejects(
      promisify(execFile)(process.execPath, ['cmd/fhirgate.ts', 'explain', 'GET'], { cwd: ROOT, timeout: 30_000 }),
      (err: { code?: number; stderr?: string }) => err.code === 2 && /fhirgate explain:/.test(err.stderr ?? ''),
    );
  });
});

describe('fhirgate explain --auth-config (real token verification)', () => {
  test('a signed token is verified against the issuer JWKS; a wrong audience is the sidecar\'s 401', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const server = createServer((req, res) => {
      if (req.url === '/jwks') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dir = mkdtempSync(path.join(tmpdir(), 'fhirgate-explain-auth-'));
    try {
      const config = path.join(dir, 'authz.yaml');
      writeFileSync(
        config,
        JSON.stringify({
          auth: { issuers: [{ issuer, audiences: ['https://ehr.example.org/fhir'], jwksUri: `${issuer}/jwks`, allowInsecureLoopback: true, algorithms: ['ES256'], claims: { patient: 'ctx.patient' } }] },
          policyFile: PATIENT_POLICY,
        }),
      );
      const now = Math.floor(clock.now() / 1000);
      const sign = (aud: string): Promise<string> =>
        new SignJWT({ scope: 'patient/Patient.rs', client_id: 'demo-patient-app', ctx: { patient: '123' } })
          .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
          .setIssuer(issuer)
          .setSubject('u1')
          .setAudience(aud)
          .setIssuedAt(now)
          .setExpirationTime(now + 600)
          .sign(privateKey);
      const good = await explainJson(['--auth-config', config, '--token', await sign('https://ehr.example.org/fhir'), 'GET', '/fhir/Patient/123']);
      assert.equal(good.code, 0);
      assert.equal(good.json['verified'], true);
      assert.equal(good.json['decision'], 'allow', JSON.stringify(good.json));
      assert.deepEqual(good.json['patients'], ['123']);
      const wrongAud = await explainJson(['--auth-config', config, '--token', await sign('https://elsewhere.example'), 'GET', '/fhir/Patient/123']);
      assert.equal(wrongAud.json['status'], 401);
      assert.equal(wrongAud.json['reason'], 'token_audience_mismatch');
      assert.equal(wrongAud.json['phase'], 'authenticate');
      // --claims with the same config uses the issuer's claim mapping (ctx.patient).
      const viaClaims = await explainJson(['--auth-config', config, '--claims', JSON.stringify({ iss: issuer, scope: 'patient/Patient.rs', ctx: { patient: '123' } }), 'GET', '/fhir/Patient/123']);
      assert.equal(viaClaims.json['decision'], 'allow');
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
