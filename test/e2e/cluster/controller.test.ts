/**
 * fhirgate-controller against the real API server: the examples become Accepted/Ready with the
 * printer columns kubectl shows; a semantically invalid update is rejected (Accepted=False, a
 * Warning Event) while the last accepted spec stays in the desired state; a CEL violation never
 * reaches the controller; an API server outage is ridden out with backoff and status catches up;
 * a crashed leader is replaced within the lease duration. Opt-in like the other cluster tests.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Controller } from '../../../src/controller/controller.ts';
import { kubeControllerApis } from '../../../src/controller/kube-apis.ts';
import { loadKubeConfig } from '../../../src/k8s/client/index.ts';
import { installCrds } from '../../../src/cli/dev/crds.ts';
import { BUILD_TIMEOUT_MS, clusterSkipReason, kubectlOf, startTestCluster } from './harness.ts';
import type { TestCluster } from './harness.ts';

const skipReason = clusterSkipReason();

const REPO = join(import.meta.dirname, '../../..');
const EXAMPLES = join(REPO, 'manifests/examples');
const NS = 'ehr';
const LEASE_NS = 'fhirgate-system';
const LEASE_MS = 4000;
const RETRY_MS = 500;

/** Polls `probe` until it returns a value (not undefined) or the deadline passes. Bounded. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; Date.now() < deadline && i < 10_000; i++) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last !== undefined ? ` (last error: ${String(last)})` : ''}`);
}

describe('fhirgate-controller on the real API server', { skip: skipReason ?? false, timeout: BUILD_TIMEOUT_MS }, () => {
  let cluster: TestCluster;
  const controllers: Controller[] = [];

  const newController = (identity: string): Controller => {
    const kc = loadKubeConfig(cluster.kubeconfig);
    const c = new Controller({
      apis: kubeControllerApis(kc, { leaseNamespace: LEASE_NS, identity, watchTimeoutSeconds: 10 }),
      identity,
      leaseDurationMs: LEASE_MS,
      renewDeadlineMs: 3000,
      retryPeriodMs: RETRY_MS,
      informerBackoff: { baseMs: 200, maxMs: 2000, jitter: 0.2 },
      queueBackoff: { baseMs: 200, maxMs: 2000, jitter: 0.2 },
      defaultMetrics: false,
    });
    controllers.push(c);
    c.start();
    return c;
  };

  const jsonpath = async (resource: string, path: string): Promise<string> => {
    const r = await cluster.kubectl(['get', '-n', NS, resource, '-o', `jsonpath=${path}`]);
    if (r.code !== 0) throw new Error(r.stderr);
    return r.stdout;
  };
  const conditionOf = (resource: string, type: string, field: 'status' | 'reason' | 'message' | 'observedGeneration') =>
    jsonpath(resource, `{.status.conditions[?(@.type=="${type}")].${field}}`);

  before(async () => {
    cluster = await startTestCluster((m) => console.log(`# ${m}`));
    await installCrds(kubectlOf(cluster), REPO);
    for (const ns of [NS, LEASE_NS]) await cluster.kubectl(['create', 'namespace', ns]);
    const examples = await cluster.kubectl(['apply', '-f', EXAMPLES]);
    assert.equal(examples.code, 0, examples.stderr);
  });

  after(async () => {
    for (const c of controllers) await c.stop({ release: false }).catch(() => {});
    if (cluster === undefined) return;
    if (!cluster.startedHere) {
      await cluster.kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', EXAMPLES]);
      await cluster.kubectl(['delete', '--ignore-not-found', '--wait=false', 'lease', '-n', LEASE_NS, 'fhirgate-controller']);
    }
    await cluster.stop();
  });

  it('accepts the examples: Accepted/Ready True in the printer columns, observedGeneration, policyHash, desired state', async () => {
    const a = newController('ctl-a');
    await waitFor('a leader', () => (a.isLeader ? true : undefined));
    for (const name of ['clinician', 'patient-app']) {
      await waitFor(`${name} Accepted`, async () => ((await conditionOf(`fap/${name}`, 'Ready', 'status')) === 'True' ? true : undefined));
      assert.equal(await conditionOf(`fap/${name}`, 'Accepted', 'status'), 'True');
      const gen = await jsonpath(`fap/${name}`, '{.metadata.generation}');
      assert.equal(await jsonpath(`fap/${name}`, '{.status.observedGeneration}'), gen);
      assert.equal(await conditionOf(`fap/${name}`, 'Accepted', 'observedGeneration'), gen);
      assert.match(await jsonpath(`fap/${name}`, '{.status.policyHash}'), /^[0-9a-f]{64}$/);
    }
    const table = await cluster.kubectl(['get', '-n', NS, 'fhiraccesspolicies']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout.split('\n')[0] ?? '', /^NAME\s+BASE PATH\s+ACCEPTED\s+READY\s+ENFORCED\s+AGE$/);
    assert.match(table.stdout, /clinician\s+\/ehr\/fhir\s+True\s+True/);
    assert.match(table.stdout, /patient-app\s+\/fhir\s+True\s+True/);
    assert.deepEqual(a.desired.content(NS).policies.map((p) => p.metadata.name), ['clinician', 'patient-app']);
    const lease = await cluster.kubectl(['get', 'lease', '-n', LEASE_NS, 'fhirgate-controller', '-o', 'jsonpath={.spec.holderIdentity}']);
    assert.equal(lease.stdout, 'ctl-a');
  });

  it('refuses a CEL violation at the API server (the controller never sees it)', async () => {
    const r = await cluster.kubectl(['patch', '-n', NS, 'fap/patient-app', '--type=merge', '-p', JSON.stringify({ spec: { patientCompartment: { nonCompartmentTypes: ['Observation'] } } })]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /must not list Patient or a type in the Patient compartment/);
  });

  it('rejects what only the compiler refuses: Accepted=False naming the field, a Warning Event, last accepted spec kept', async () => {
    const a = controllers[0]!;
    const before = structuredClone(a.desired.get('FhirAccessPolicy', NS, 'patient-app')) as { spec: { search?: { requiredParams?: unknown } } };
    assert.equal(before.spec.search?.requiredParams, undefined);
    const patched = await cluster.kubectl([
      'patch', '-n', NS, 'fap/patient-app', '--type=merge',
      '-p', JSON.stringify({ spec: { search: { requiredParams: [{ resourceType: 'Widget', anyOf: ['code'] }] } } }),
    ]);
    assert.equal(patched.code, 0, patched.stderr);
    const gen = await jsonpath('fap/patient-app', '{.metadata.generation}');
    await waitFor('Accepted=False', async () =>
      (await conditionOf('fap/patient-app', 'Accepted', 'status')) === 'False' && (await conditionOf('fap/patient-app', 'Accepted', 'observedGeneration')) === gen ? true : undefined,
    );
    assert.equal(await conditionOf('fap/patient-app', 'Accepted', 'reason'), 'InvalidSpec');
    assert.match(await conditionOf('fap/patient-app', 'Accepted', 'message'), /spec\.search\.requiredParams\[0\]\.resourceType(\[0\])?: "Widget" is not an R4 resource type/);
    assert.equal(await conditionOf('fap/patient-app', 'Ready', 'reason'), 'LastAcceptedInEffect');
    const table = await cluster.kubectl(['get', '-n', NS, 'fap', 'patient-app', '--no-headers']);
    assert.match(table.stdout, /patient-app\s+\/fhir\s+False\s+False/);
    // Last-known-good: the desired state (what sidecars get) still holds the previous spec.
    assert.deepEqual(a.desired.get('FhirAccessPolicy', NS, 'patient-app'), before);
    const events = await waitFor('a PolicyRejected event', async () => {
      const r = await cluster.kubectl(['get', 'events', '-n', NS, '--field-selector', 'reason=PolicyRejected', '-o', 'json']);
      const items = (JSON.parse(r.stdout) as { items: Array<{ type: string; note?: string; message?: string; regarding?: { name?: string }; involvedObject?: { name?: string } }> }).items;
      return items.length > 0 ? items : undefined;
    });
    assert.equal(events[0]?.type, 'Warning');
    assert.match(events[0]?.note ?? events[0]?.message ?? '', /Widget/);
  });

  it('rides out an API server outage with backoff; status catches up when it returns', async (t) => {
    if (cluster.outage === undefined) {
      t.skip('the API server can only be stopped when this test started it (KUBECONFIG names a shared cluster)');
      return;
    }
    const a = controllers[0]!;
    const restartsBefore = a.informer('FhirAccessPolicy').restarts;
    await cluster.outage!.stop();
    // While the server is gone, watches fail and are retried (bounded wait).
    await waitFor('informer restarts', () => (a.informer('FhirAccessPolicy').restarts > restartsBefore ? true : undefined), 20_000);
    assert.notEqual(a.desired.get('FhirAccessPolicy', NS, 'clinician'), undefined, 'the desired state survives the outage');
    await cluster.outage!.start();
    // Fix the rejected policy: the controller must see it and write Accepted=True again.
    const fixed = await cluster.kubectl(['patch', '-n', NS, 'fap/patient-app', '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/search/requiredParams' }])]);
    assert.equal(fixed.code, 0, fixed.stderr);
    const gen = await jsonpath('fap/patient-app', '{.metadata.generation}');
    await waitFor(
      'status after the outage',
      async () => ((await conditionOf('fap/patient-app', 'Accepted', 'status')) === 'True' && (await jsonpath('fap/patient-app', '{.status.observedGeneration}')) === gen ? true : undefined),
      45_000,
    );
    assert.equal((a.desired.get('FhirAccessPolicy', NS, 'patient-app') as { spec: { search?: { requiredParams?: unknown } } }).spec.search?.requiredParams, undefined);
  });

  it('a crashed leader is replaced within the lease duration, and the new leader writes status', async () => {
    const a = controllers[0]!;
    await waitFor('a leads', () => (a.isLeader ? true : undefined), 20_000);
    const b = newController('ctl-b');
    await waitFor('b synced', () => (b.hasSynced() ? true : undefined));
    assert.equal(b.isLeader, false);
    await a.stop({ release: false });
    const crashedAt = Date.now();
    await waitFor('b leads', () => (b.isLeader ? true : undefined), 3 * LEASE_MS);
    const took = Date.now() - crashedAt;
    // b measures expiry from when it last saw a renewal (≤ one retry period after it happened).
    assert.ok(took <= LEASE_MS + 2 * RETRY_MS + 1000, `takeover took ${took} ms`);
    const lease = await cluster.kubectl(['get', 'lease', '-n', LEASE_NS, 'fhirgate-controller', '-o', 'jsonpath={.spec.holderIdentity}']);
    assert.equal(lease.stdout, 'ctl-b');
    const patched = await cluster.kubectl(['patch', '-n', NS, 'fap/clinician', '--type=merge', '-p', JSON.stringify({ spec: { search: { maxCount: 150 } } })]);
    assert.equal(patched.code, 0, patched.stderr);
    const gen = await jsonpath('fap/clinician', '{.metadata.generation}');
    await waitFor('b writes status', async () => ((await jsonpath('fap/clinician', '{.status.observedGeneration}')) === gen ? true : undefined));
    await b.stop({ release: true });
    const released = await cluster.kubectl(['get', 'lease', '-n', LEASE_NS, 'fhirgate-controller', '-o', 'jsonpath={.spec.holderIdentity}']);
    assert.equal(released.stdout, '');
  });
});
