import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEV_DEFAULT_PORTS, demoInstructions, parseDevArgs } from '../../../src/cli/dev/command.ts';
import { sidecarConfig } from '../../../src/cli/dev/sidecar-config.ts';
import { parseConfig } from '../../../src/authz/config.ts';
import { ManagedProcess } from '../../../src/cli/dev/child.ts';
import { WaitTimeoutError, waitFor } from '../../../src/cli/dev/wait.ts';

describe('fhirgate dev arguments', () => {
  it('uses fixed default ports so the printed curl lines are stable', () => {
    const args = parseDevArgs([]);
    assert.deepEqual(args.ports, DEV_DEFAULT_PORTS);
    assert.equal(args.ports.envoy, 10000);
    assert.equal(args.help, false);
  });

  it('accepts overrides and rejects bad or clashing ports and unknown flags', () => {
    assert.equal(parseDevArgs(['--port', '18000']).ports.envoy, 18000);
    assert.throws(() => parseDevArgs(['--port', '0']), TypeError);
    assert.throws(() => parseDevArgs(['--port', '99999']), TypeError);
    assert.throws(() => parseDevArgs(['--port', '1e3']), TypeError);
    assert.throws(() => parseDevArgs(['--port', String(DEV_DEFAULT_PORTS.fhir)]), TypeError);
    assert.throws(() => parseDevArgs(['--bogus']));
    assert.equal(parseDevArgs(['-h']).help, true);
  });

  it('prints curl commands for an allow, a 401 and a 403 against the Envoy URL', () => {
    const text = demoInstructions({
      envoyUrl: 'http://127.0.0.1:10000',
      issuerUrl: 'http://127.0.0.1:9400',
      adminUrl: 'http://127.0.0.1:9901',
      authzHttpUrl: 'http://127.0.0.1:9090',
      basePath: '/fhir',
    });
    assert.match(text, /# 200[^\n]*\nTOKEN=\$\(curl -s http:\/\/127\.0\.0\.1:9400\/token\/patient-app/);
    assert.match(text, /# 401[^\n]*\ncurl -i 'http:\/\/127\.0\.0\.1:10000\/fhir\/Observation'/);
    assert.match(text, /# 403[^\n]*\nTOKEN=\$\(curl -s http:\/\/127\.0\.0\.1:9400\/token\/no-scope/);
    assert.match(text, /Authorization: Bearer \$TOKEN/);
  });
});

describe('sidecar config for the dev stack', () => {
  const cfg = sidecarConfig({
    issuer: 'http://127.0.0.1:9400',
    audience: 'fhirgate-demo',
    addressFile: '/tmp/a.json',
    maxBodyBytes: 4096,
    jwks: { maxStaleSeconds: 20 },
  }) as {
    auth: { issuers: { issuer: string; audiences: string[]; allowInsecureLoopback: boolean; jwks: Record<string, number> }[] };
    policy: { apiVersion: string; kind: string; spec: { fhirBasePath: string; publicCapabilities: boolean; body: { maxBytes: number } } };
    body: { maxBytes: number };
  };

  it('trusts only the demo issuer and shares the body cap with Envoy', () => {
    assert.equal(cfg.auth.issuers.length, 1);
    assert.equal(cfg.auth.issuers[0]?.issuer, 'http://127.0.0.1:9400');
    assert.deepEqual(cfg.auth.issuers[0]?.audiences, ['fhirgate-demo']);
    assert.equal(cfg.auth.issuers[0]?.jwks['maxStaleSeconds'], 20);
    assert.equal(cfg.auth.issuers[0]?.jwks['refreshSeconds'], 300);
    assert.equal(cfg.body.maxBytes, 4096);
  });

  it('is accepted by fhirgate-authz\'s own config validation (no drift between the two)', () => {
    assert.doesNotThrow(() => parseConfig(structuredClone(cfg)));
  });

  it('embeds a FhirAccessPolicy for the FHIR base with public capabilities', () => {
    assert.equal(cfg.policy.apiVersion, 'fhirgate.io/v1alpha1');
    assert.equal(cfg.policy.kind, 'FhirAccessPolicy');
    assert.equal(cfg.policy.spec.fhirBasePath, '/fhir');
    assert.equal(cfg.policy.spec.publicCapabilities, true);
    assert.equal(cfg.policy.spec.body.maxBytes, 4096);
  });
});

describe('bounded waits', () => {
  it('returns the first defined value', async () => {
    let n = 0;
    assert.equal(await waitFor(() => (++n === 3 ? 'ready' : undefined), { what: 'x', timeoutMs: 1000, intervalMs: 1 }), 'ready');
    assert.equal(n, 3);
  });

  it('gives up after the deadline, and early when told to', async () => {
    let calls = 0;
    await assert.rejects(
      waitFor(() => {
        calls++;
        return undefined;
      }, { what: 'never', timeoutMs: 20, intervalMs: 5 }),
      WaitTimeoutError,
    );
    assert.ok(calls <= 6, `${calls} attempts`);
    await assert.rejects(
      waitFor(() => undefined, { what: 'child', timeoutMs: 10_000, abortIf: () => 'it exited' }),
      /it exited/,
    );
  });
});

describe('ManagedProcess', () => {
  it('keeps output, stops with SIGTERM, and reports the exit', async () => {
    const p = ManagedProcess.spawn('sleeper', process.execPath, [
      '-e',
      'console.log("hello"); process.on("SIGTERM", () => { console.log("bye"); process.exit(0); }); setInterval(() => {}, 1000);',
    ]);
    await waitFor(() => (p.output().includes('hello') ? true : undefined), { what: 'hello', timeoutMs: 10_000 });
    const status = await p.stop();
    assert.equal(status.code, 0);
    assert.match(p.output(), /bye/);
    assert.equal(p.signal('SIGTERM'), false, 'signals to an exited process are refused');
  });

  it('kills a process that ignores SIGTERM, even while stopped', async () => {
    const p = ManagedProcess.spawn('stubborn', process.execPath, [
      '-e',
      'process.on("SIGTERM", () => {}); console.log("up"); setInterval(() => {}, 1000);',
    ]);
    await waitFor(() => (p.output().includes('up') ? true : undefined), { what: 'up', timeoutMs: 10_000 });
    assert.ok(p.signal('SIGSTOP'));
    const status = await p.stop(200);
    assert.equal(status.signal, 'SIGKILL');
  });
});
