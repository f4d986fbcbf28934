/**
 * Issue 4 end to end, every part real and in its own process, driven the way a user drives it:
 *
 *   kubectl ──▶ kube-apiserver (harness) ◀── fhirgate-controller (child: node cmd/…)
 *                                                 │ PolicyDistribution (TokenReview'd SA token)
 *   client ──▶ Envoy (child) ──ext_authz──▶ fhirgate-authz (child, controller mode) ──▶ JWKS (https)
 *                 └──▶ sample FHIR server
 *
 * Scenarios, each asserted through Envoy: (a) the examples show Accepted/Ready with printer
 * columns and ENFORCED 1 for the policy the sidecar guards; (b) a policy change applied with
 * kubectl flips 200 → 403 within a bound; (c) a TokenRevocation applied with kubectl makes that
 * token 401 `token_revoked`; (d) a compiler-only rejection gives Accepted=False and the previous
 * policy keeps deciding; (e) SIGKILL of the controller changes no answer, and a restarted
 * controller catches status up; (f) deleting the policy denies (never allow-all).
 * Opt-in like the other cluster tests (FHIRGATE_E2E_CLUSTER=1).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedProcess } from '../../../src/cli/dev/child.ts';
import { hostPort, startEnvoy } from '../../../src/cli/dev/envoy-process.ts';
import { FhirServer } from '../../../src/cli/dev/fhir-server.ts';
import { resolveEnvoyBin } from '../../../src/cli/dev/stack.ts';
import { probeHttp, waitFor } from '../../../src/cli/dev/wait.ts';
import { generateBootstrap } from '../../../src/envoy/bootstrap.ts';
import { isReasonCode, reasonInfo } from '../../../src/core/reasons.ts';
import { rawRequest, reasonOf } from '../harness.ts';
import type { RawResponse } from '../harness.ts';
import { installCrds } from '../../../src/cli/dev/crds.ts';
import { BUILD_TIMEOUT_MS, clusterSkipReason, freePort, startTestCluster } from './harness.ts';
import type { TestCluster } from './harness.ts';
import { HttpsIssuer, makeIssuerCa } from '../../../src/cli/dev/https-issuer.ts';

const skipReason = clusterSkipReason();

const REPO = join(import.meta.dirname, '../../..');
const EXAMPLES = join(REPO, 'manifests/examples');
const NS = 'ehr';
const LEASE_NS = 'fhirgate-system';
const SA = 'fhir-server';
const AUDIENCE = 'fhirgate-demo';
/** The sidecar guards /fhir: the patient-app example is its policy; clinician guards /ehr/fhir. */
const BASE = '/fhir';
/** What a policy change may take from `kubectl` returning to Envoy answering differently. */
const PROPAGATION_BOUND_MS = 10_000;
const SEARCH = `${BASE}/Observation`;

const reasonOfResponse = (res: RawResponse): string | undefined => reasonOf(res.body);

interface PolicyStatus {
  generation: number;
  observedGeneration: number | undefined;
  conditions: Record<string, { status: string; reason: string; observedGeneration?: number }>;
  enforcedBy: { current: number; total: number } | undefined;
}

describe('kubectl → controller → sidecar → Envoy, every component real', { skip: skipReason ?? false, timeout: BUILD_TIMEOUT_MS }, () => {
  let cluster: TestCluster;
  const dir = mkdtempSync(join(tmpdir(), 'fhirgate-enforce-e2e-'));
  let issuer: HttpsIssuer;
  let fhir: FhirServer;
  let controller: ManagedProcess | undefined;
  let sidecar: ManagedProcess | undefined;
  let envoy: ManagedProcess | undefined;
  let grpcPort: number;
  let envoyPort: number;
  let sidecarHttp: string;
  let controllerRuns = 0;
  /** The token revoked in (c); it must stay refused after the controller is gone (e). */
  let revokedToken: string | undefined;

  const kubectl = async (args: readonly string[], input?: string): Promise<string> => {
    const r = await cluster.kubectl(args, input === undefined ? {} : { input });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  const policyStatus = async (name: string): Promise<PolicyStatus> => {
    const o = JSON.parse(await kubectl(['get', '-n', NS, 'fap', name, '-o', 'json'])) as {
      metadata: { generation: number };
      status?: { observedGeneration?: number; conditions?: Array<{ type: string; status: string; reason: string; observedGeneration?: number }>; enforcedBy?: { current: number; total: number } };
    };
    return {
      generation: o.metadata.generation,
      observedGeneration: o.status?.observedGeneration,
      conditions: Object.fromEntries((o.status?.conditions ?? []).map((c) => [c.type, c])),
      enforcedBy: o.status?.enforcedBy,
    };
  };

  /** Waits (bounded) until the policy's status satisfies `ok` for its current generation. */
  const waitStatus = (name: string, what: string, ok: (s: PolicyStatus) => boolean, timeoutMs = 30_000): Promise<PolicyStatus> =>
    waitFor(
      async () => {
        const s = await policyStatus(name);
        return s.observedGeneration === s.generation && ok(s) ? s : undefined;
      },
      { what: `${name}: ${what}`, timeoutMs, intervalMs: 200, abortIf: () => exited(controller) ?? exited(sidecar) },
    );

  const exited = (p: ManagedProcess | undefined): string | undefined =>
    p?.exitStatus === undefined ? undefined : `${p.name} exited (${JSON.stringify(p.exitStatus)}):\n${p.output().split('\n').slice(-30).join('\n')}`;

  const diagnostics = (): string =>
    [controller, sidecar, envoy].map((p) => (p === undefined ? '' : `--- ${p.name} ---\n${p.output().split('\n').slice(-25).join('\n')}`)).join('\n');

  const get = (token: string | undefined, path = SEARCH): Promise<RawResponse> =>
    rawRequest(envoyPort, { path, headers: token === undefined ? [] : [['authorization', `Bearer ${token}`]] });

  /** Polls through Envoy until the answer's status is `status` (bounded); returns the time it took. */
  const untilStatus = async (token: string, status: number, timeoutMs = PROPAGATION_BOUND_MS): Promise<number> => {
    const started = Date.now();
    await waitFor(async () => ((await get(token)).status === status ? true : undefined), {
      what: `Envoy to answer ${status}`,
      timeoutMs,
      intervalMs: 50,
      abortIf: () => exited(sidecar) ?? exited(envoy),
    });
    return Date.now() - started;
  };

  const startController = (): ManagedProcess => {
    controllerRuns++;
    const p = ManagedProcess.spawn(
      `fhirgate-controller#${controllerRuns}`,
      process.execPath,
      [
        join(REPO, 'cmd/fhirgate-controller.ts'),
        '--kubeconfig', cluster.kubeconfig,
        '--namespace', LEASE_NS,
        '--lease-duration', '2',
        '--http-listen', '127.0.0.1:0',
        '--grpc-listen', `127.0.0.1:${grpcPort}`,
        '--identity', `ctl-${controllerRuns}`,
        '--log-level', 'info',
      ],
      { cwd: REPO, keepLines: 400 },
    );
    controller = p;
    return p;
  };

  before(async () => {
    cluster = await startTestCluster((m) => console.log(`# ${m}`));
    await installCrds(kubectl, REPO);
    for (const ns of [NS, LEASE_NS]) await cluster.kubectl(['create', 'namespace', ns]);
    await cluster.kubectl(['create', 'serviceaccount', '-n', NS, SA]);

    const ca = makeIssuerCa(dir);
    issuer = await HttpsIssuer.start(ca, AUDIENCE);
    fhir = await FhirServer.create({ port: 0, basePath: BASE });

    // The issuer and the examples, the way a user installs them.
    const trustedIssuer = {
      apiVersion: 'fhirgate.io/v1alpha1',
      kind: 'TrustedIssuer',
      metadata: { name: 'demo-issuer', namespace: NS },
      spec: { issuer: issuer.issuer, audiences: [AUDIENCE], algorithms: ['ES256'], discovery: true, allowedTyp: ['at+jwt'], clockSkewSeconds: 30, maxLifetimeSeconds: 3600 },
    };
    await kubectl(['apply', '-f', '-'], JSON.stringify(trustedIssuer));
    await kubectl(['apply', '-f', EXAMPLES]);

    grpcPort = await freePort();
    startController();

    // fhirgate-authz in controller mode, authenticated by a real service-account token.
    const tokenFile = join(dir, 'sa-token');
    writeFileSync(tokenFile, (await kubectl(['create', 'token', '-n', NS, SA, '--audience', 'fhirgate-controller', '--duration', '1h'])).trim());
    const addressFile = join(dir, 'authz-addresses.json');
    const config = {
      listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', addressFile },
      controller: { address: `127.0.0.1:${grpcPort}`, tokenFile, fhirBasePath: BASE, pod: 'fhir-0', backoff: { initialMs: 100, maxMs: 1000 } },
      upstream: { fhirBaseUrl: `http://127.0.0.1:${fhir.port}${BASE}`, timeoutMs: 1000, cacheSeconds: 30 },
      body: { maxBytes: 65536 },
      audit: { sink: 'none' },
      log: { level: 'info' },
    };
    const configFile = join(dir, 'fhirgate-authz.json');
    writeFileSync(configFile, JSON.stringify(config));
    sidecar = ManagedProcess.spawn('fhirgate-authz', process.execPath, [join(REPO, 'cmd/fhirgate-authz.ts'), '--config', configFile], {
      cwd: REPO,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.caFile },
      keepLines: 400,
    });
    const addresses = await waitFor(
      () => {
        try {
          return JSON.parse(readFileSync(addressFile, 'utf8')) as { grpc: string; http: string };
        } catch {
          return undefined;
        }
      },
      { what: 'fhirgate-authz addresses', timeoutMs: 30_000, abortIf: () => exited(sidecar) },
    );
    sidecarHttp = `http://${addresses.http}`;
    // Ready only once the controller's bundle is applied and the https issuer's keys are loaded.
    await waitFor(async () => ((await probeHttp(`${sidecarHttp}/readyz`))?.status === 200 ? true : undefined), {
      what: 'fhirgate-authz /readyz (bundle from the controller applied)',
      timeoutMs: 60_000,
      intervalMs: 200,
      abortIf: () => exited(sidecar) ?? exited(controller),
    }).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${diagnostics()}`);
    });

    const bootstrap = generateBootstrap({
      serviceName: 'fhirgate-e2e-cluster',
      listener: { address: '127.0.0.1', port: 0 },
      upstream: { host: '127.0.0.1', port: fhir.port },
      fhirBasePath: BASE,
      authz: { target: { kind: 'tcp', ...hostPort(addresses.grpc) }, timeoutMs: 500, maxRequestBodyBytes: 65536 },
      admin: { address: '127.0.0.1', port: 0 },
      accessLogPath: join(dir, 'access.log'),
    });
    const started = await startEnvoy({ bin: resolveEnvoyBin(), bootstrap, dir, timeoutMs: 30_000, abortIf: () => exited(sidecar) });
    envoy = started.proc;
    envoyPort = started.port;
    await waitFor(async () => ((await get(undefined, `${BASE}/metadata`)).status === 200 ? true : undefined), {
      what: 'capabilities through Envoy',
      timeoutMs: 30_000,
      abortIf: () => exited(envoy) ?? exited(sidecar),
    });
  });

  after(async () => {
    for (const p of [envoy, sidecar, controller]) await p?.stop().catch(() => undefined);
    await issuer?.close();
    await fhir?.close();
    if (cluster !== undefined) {
      if (!cluster.startedHere) {
        await cluster.kubectl(['delete', '--ignore-not-found', '--wait=false', '-n', NS, 'fap,tiss,trev', '--all']);
        await cluster.kubectl(['delete', '--ignore-not-found', '--wait=false', 'lease', '-n', LEASE_NS, 'fhirgate-controller']);
      }
      await cluster.stop();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('(a) kubectl shows the examples Accepted and Ready with printer columns; the guarded policy is enforced by 1 of 1', async () => {
    const patient = await waitStatus('patient-app', 'Ready=True Enforced 1/1', (s) => s.conditions['Ready']?.reason === 'Enforced' && s.enforcedBy?.current === 1);
    assert.equal(patient.conditions['Accepted']?.status, 'True');
    assert.equal(patient.conditions['Ready']?.status, 'True');
    assert.deepEqual(patient.enforcedBy, { current: 1, total: 1 });
    // clinician guards /ehr/fhir: no sidecar guards it, so nothing is pending (Ready) and 0/0 says why.
    const clinician = await waitStatus('clinician', 'Ready=True NoWorkloads', (s) => s.conditions['Ready']?.reason === 'NoWorkloads');
    assert.equal(clinician.conditions['Ready']?.status, 'True');
    assert.deepEqual(clinician.enforcedBy, { current: 0, total: 0 });

    const table = await kubectl(['get', '-n', NS, 'fhiraccesspolicies']);
    assert.match(table.split('\n')[0] ?? '', /^NAME\s+BASE PATH\s+ACCEPTED\s+READY\s+ENFORCED\s+AGE$/);
    assert.match(table, /clinician\s+\/ehr\/fhir\s+True\s+True\s+0\s/);
    assert.match(table, /patient-app\s+\/fhir\s+True\s+True\s+1\s/);
    const wide = await kubectl(['get', '-n', NS, 'fhiraccesspolicies', 'patient-app', '-o', 'wide']);
    assert.match(wide.split('\n')[0] ?? '', /ENFORCED\s+WORKLOADS\s+AGE$/);
    assert.match(wide, /patient-app\s+\/fhir\s+True\s+True\s+1\s+1\s/);
    const issuerRow = await kubectl(['get', '-n', NS, 'trustedissuers', 'demo-issuer', '--no-headers']);
    assert.match(issuerRow, /True\s+True/);

    // …and a request through the real Envoy obeys them.
    const { token } = await issuer.mint('patient-app');
    const ok = await get(token);
    assert.equal(ok.status, 200, `${ok.body}\n${diagnostics()}`);
    const seen = fhir.lastRequest;
    assert.match(seen?.query ?? '', /patient=/, 'the patient-app policy narrowed the search to the launch patient');
    const clinicianToken = (await issuer.mint('clinician')).token;
    const refused = await get(clinicianToken);
    assert.equal(refused.status, 403, 'a user/ scope grants nothing under the patient-app policy');

    // The leader keeps the cold-start snapshot: a hash-consistent ConfigMap holding both policies.
    const cm = await waitFor(
      async () => {
        const r = await cluster.kubectl(['get', 'configmap', '-n', NS, 'fhirgate-bundle', '-o', 'json']);
        return r.code === 0 ? (JSON.parse(r.stdout) as { data: Record<string, string> }).data : undefined;
      },
      { what: 'the snapshot ConfigMap', timeoutMs: 20_000, intervalMs: 200 },
    );
    assert.equal(createHash('sha256').update(cm['bundle.json'] ?? '').digest('hex'), cm['hash']);
    const content = JSON.parse(cm['bundle.json'] ?? '{}') as { policies: Array<{ metadata: { name: string } }> };
    assert.deepEqual(content.policies.map((p) => p.metadata.name), ['clinician', 'patient-app']);
  });

  it('(b) a policy change applied with kubectl flips 200 → 403 through Envoy within the bound, and back', async () => {
    const { token } = await issuer.mint('patient-app');
    assert.equal((await get(token)).status, 200);
    await kubectl(['patch', '-n', NS, 'fap/patient-app', '--type=merge', '-p', JSON.stringify({ spec: { scopes: { levels: ['user'] } } })]);
    const took = await untilStatus(token, 403);
    console.log(`# kubectl patch → Envoy 403 in ${took} ms (polling every 50 ms)`);
    const code = reasonOfResponse(await get(token)) ?? '';
    assert.ok(isReasonCode(code) && reasonInfo(code).status === 403, `a 403 reason code, got ${JSON.stringify(code)}`);
    await waitStatus('patient-app', 'Enforced after the change', (s) => s.conditions['Ready']?.reason === 'Enforced');

    await kubectl(['patch', '-n', NS, 'fap/patient-app', '--type=merge', '-p', JSON.stringify({ spec: { scopes: { levels: ['patient'] } } })]);
    await untilStatus(token, 200);
    await waitStatus('patient-app', 'Enforced after the revert', (s) => s.conditions['Ready']?.reason === 'Enforced' && s.enforcedBy?.current === 1);
  });

  it('(c) a TokenRevocation applied with kubectl makes exactly that token 401 token_revoked', async () => {
    const revoked = await issuer.mint('patient-app');
    const other = await issuer.mint('patient-app');
    assert.equal((await get(revoked.token)).status, 200, 'the token works (and is now in the sidecar\'s verified-token cache)');
    const rev = {
      apiVersion: 'fhirgate.io/v1alpha1',
      kind: 'TokenRevocation',
      metadata: { name: 'incident-42', namespace: NS },
      spec: { reason: 'INC-42: token leaked in a support ticket', jtis: [revoked.jti] },
    };
    await kubectl(['apply', '-f', '-'], JSON.stringify(rev));
    await untilStatus(revoked.token, 401);
    const denied = await get(revoked.token);
    assert.equal(denied.status, 401);
    assert.equal(reasonOfResponse(denied), 'token_revoked');
    assert.match(String(denied.headers['www-authenticate'] ?? ''), /invalid_token/);
    assert.equal((await get(other.token)).status, 200, 'another token of the same app still works');
    revokedToken = revoked.token;
  });

  it('(d) a compiler-only rejection: Accepted=False, and the previous policy still decides', async () => {
    const { token } = await issuer.mint('patient-app');
    const clinicianToken = (await issuer.mint('clinician')).token;
    assert.equal((await get(token)).status, 200);
    // Passes the CRD schema and CEL, fails the compiler: "Widget" is not an R4 resource type.
    // Were it enforced, an Observation search without the listed params would be refused.
    await kubectl([
      'patch', '-n', NS, 'fap/patient-app', '--type=merge',
      '-p', JSON.stringify({ spec: { search: { requiredParams: [{ resourceType: 'Widget', anyOf: ['code'] }] }, scopes: { levels: ['user'] } } }),
    ]);
    const s = await waitStatus('patient-app', 'Accepted=False', (x) => x.conditions['Accepted']?.status === 'False');
    assert.equal(s.conditions['Accepted']?.reason, 'InvalidSpec');
    assert.equal(s.conditions['Ready']?.status, 'False');
    assert.equal(s.conditions['Ready']?.reason, 'LastAcceptedInEffect');
    assert.deepEqual(s.enforcedBy, { current: 1, total: 1 }, 'the last accepted version is what the sidecar runs');
    // The rejected generation also asked for user-level scopes; it must not leak through.
    for (let i = 0; i < 5; i++) {
      assert.equal((await get(token)).status, 200);
      assert.equal((await get(clinicianToken)).status, 403);
    }
    await kubectl(['patch', '-n', NS, 'fap/patient-app', '--type=json', '-p', JSON.stringify([
      { op: 'remove', path: '/spec/search/requiredParams' },
      { op: 'replace', path: '/spec/scopes/levels', value: ['patient'] },
    ])]);
    await waitStatus('patient-app', 'Accepted again', (x) => x.conditions['Accepted']?.status === 'True' && x.conditions['Ready']?.reason === 'Enforced');
  });

  it('(e) controller SIGKILLed: the sidecar keeps the last bundle (same answers); a restarted controller catches status up', async () => {
    const good = (await issuer.mint('patient-app')).token;
    const clinicianToken = (await issuer.mint('clinician')).token;
    assert.ok(revokedToken !== undefined, 'runs after (c)');
    const answers = async () => [(await get(good)).status, (await get(clinicianToken)).status, (await get(revokedToken)).status];
    const before = await answers();
    assert.deepEqual(before, [200, 403, 401]);

    assert.ok(controller?.signal('SIGKILL'));
    await controller?.exited;
    // The stream is gone; decisions go on from the last good bundle, readiness included.
    await waitFor(() => (/controller stream lost/.test(sidecar?.output() ?? '') ? true : undefined), { what: 'the sidecar to notice', timeoutMs: 10_000 });
    for (let i = 0; i < 5; i++) assert.deepEqual(await answers(), before);
    assert.equal((await probeHttp(`${sidecarHttp}/readyz`))?.status, 200, 'still Ready on the last good bundle');

    // While no controller runs, the user changes the policy: nobody can enforce or report it yet.
    await kubectl(['patch', '-n', NS, 'fap/patient-app', '--type=merge', '-p', JSON.stringify({ spec: { search: { maxCount: 40 } } })]);
    const gen = (await policyStatus('patient-app')).generation;
    assert.notEqual((await policyStatus('patient-app')).observedGeneration, gen);
    assert.deepEqual(await answers(), before);

    startController();
    const caughtUp = await waitStatus('patient-app', 'status caught up after the restart', (x) => x.conditions['Ready']?.reason === 'Enforced' && x.enforcedBy?.current === 1, 45_000).catch(
      (err: unknown) => {
        throw new Error(`${String(err)}\n${diagnostics()}`);
      },
    );
    assert.equal(caughtUp.observedGeneration, gen);
    assert.deepEqual(caughtUp.enforcedBy, { current: 1, total: 1 });
    // The new bundle (maxCount 40) reached the sidecar: a big page is cut down to 40.
    await waitFor(
      async () => {
        const r = await get(good, `${SEARCH}?_count=500`);
        return r.status === 200 && /_count=40/.test(fhir.lastRequest?.query ?? '') ? true : undefined;
      },
      { what: '_count capped at 40 by the new version', timeoutMs: PROPAGATION_BOUND_MS, intervalMs: 100 },
    );
    assert.deepEqual(await answers(), before);
  });

  it('(g) API server stopped: the sidecar keeps enforcing through Envoy; status catches up when it returns', async (t) => {
    if (cluster?.outage === undefined) return t.skip('the cluster was not started by this test (reused KUBECONFIG)');
    const good = (await issuer.mint('patient-app')).token;
    const clinicianToken = (await issuer.mint('clinician')).token;
    const answers = async () => [(await get(good)).status, (await get(clinicianToken)).status];
    const before = await answers();
    assert.deepEqual(before, [200, 403]);
    await cluster.outage.stop();
    try {
      // The controller's watches fail and back off; the stream to the sidecar does not depend on
      // the API server, so decisions are unchanged.
      for (let i = 0; i < 5; i++) {
        assert.deepEqual(await answers(), before);
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.equal((await probeHttp(`${sidecarHttp}/readyz`))?.status, 200);
    } finally {
      await cluster.outage.start();
    }
    await kubectl(['patch', '-n', NS, 'fap/patient-app', '--type=merge', '-p', JSON.stringify({ spec: { search: { maxCount: 30 } } })]);
    const gen = (await policyStatus('patient-app')).generation;
    const back = await waitStatus('patient-app', 'status after the API server returned', (x) => x.observedGeneration === gen && x.conditions['Ready']?.reason === 'Enforced', 60_000).catch(
      (err: unknown) => {
        throw new Error(`${String(err)}\n${diagnostics()}`);
      },
    );
    assert.deepEqual(back.enforcedBy, { current: 1, total: 1 });
    assert.deepEqual(await answers(), before);
  });

  it('(f) the policy deleted with kubectl: every request is denied (policy_unavailable), never allowed', async () => {
    const { token } = await issuer.mint('patient-app');
    assert.equal((await get(token)).status, 200);
    await kubectl(['delete', '-n', NS, 'fap', 'patient-app']);
    await waitFor(async () => ((await get(token)).status !== 200 ? true : undefined), {
      what: 'the deletion to be enforced',
      timeoutMs: PROPAGATION_BOUND_MS,
      intervalMs: 50,
    });
    for (const persona of ['patient-app', 'clinician', 'partner', 'no-scope']) {
      const r = await get((await issuer.mint(persona)).token);
      assert.equal(r.status, 503, `${persona}: ${r.body}`);
      assert.equal(reasonOfResponse(r), 'policy_unavailable');
    }
    const anon = await get(undefined, `${BASE}/Patient/example-patient-1`);
    assert.notEqual(anon.status, 200);
    // The other policy is untouched and still reported.
    const clinician = await policyStatus('clinician');
    assert.equal(clinician.conditions['Accepted']?.status, 'True');
  });
});
