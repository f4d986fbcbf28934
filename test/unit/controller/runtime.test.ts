/**
 * The composed controller (src/controller/runtime.ts): the Ready rule as a pure function, then the
 * whole runtime against the fake API server with a real gRPC stream on 127.0.0.1:0 and a real
 * sidecar Subscriber — Ready/enforcedBy follow connects, ACKs and disconnects, only the sidecar
 * guarding a policy's base path counts, and the leader writes a complete snapshot.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ControllerRuntime, policyReadiness } from '../../../src/controller/runtime.ts';
import type { ConfigMapApi } from '../../../src/controller/distribution/snapshot.ts';
import { waitFor } from '../../../src/cli/dev/wait.ts';
import { FakeCluster, condition } from './fakes.ts';
import { FakeReviewer, NS, startSubscriber } from '../distribution/helpers.ts';

describe('policyReadiness', () => {
  it('Ready=True NoWorkloads with 0/0, Enforced when all run it, Propagating otherwise, Rejected on a NACK', () => {
    const none = policyReadiness('/fhir', { current: 0, total: 0 }, []);
    assert.deepEqual([none.ready, none.reason, none.status], [true, 'NoWorkloads', { enforcedBy: { current: 0, total: 0 } }]);
    const all = policyReadiness('/fhir', { current: 3, total: 3 }, []);
    assert.deepEqual([all.ready, all.reason], [true, 'Enforced']);
    const some = policyReadiness('/fhir', { current: 1, total: 3 }, []);
    assert.deepEqual([some.ready, some.reason, some.status], [false, 'Propagating', { enforcedBy: { current: 1, total: 3 } }]);
    assert.match(some.message, /1 of 3/);
    const nacked = policyReadiness('/fhir', { current: 2, total: 3 }, [{ pod: 'fhir-2', reason: 'policy_invalid' }]);
    assert.deepEqual([nacked.ready, nacked.reason], [false, 'Rejected']);
    assert.match(nacked.message, /fhir-2: policy_invalid/);
  });
});

class MemoryConfigMaps implements ConfigMapApi {
  readonly maps = new Map<string, { data: Record<string, string>; resourceVersion: string }>();
  #rv = 0;
  async read(namespace: string, name: string) {
    return this.maps.get(`${namespace}/${name}`);
  }
  async create(namespace: string, name: string, data: Record<string, string>) {
    this.maps.set(`${namespace}/${name}`, { data, resourceVersion: String(++this.#rv) });
  }
  async replace(namespace: string, name: string, data: Record<string, string>) {
    this.maps.set(`${namespace}/${name}`, { data, resourceVersion: String(++this.#rv) });
  }
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('ControllerRuntime', () => {
  it('Ready follows the sidecars guarding the base path: NoWorkloads → Enforced 1/1 → NoWorkloads; snapshot complete', async () => {
    const cluster = new FakeCluster();
    const policies = cluster.of('FhirAccessPolicy');
    policies.apply(NS, 'guarded', { fhirBasePath: '/fhir' });
    policies.apply(NS, 'elsewhere', { fhirBasePath: '/other/fhir' });
    const reviewer = new FakeReviewer();
    reviewer.users.set('sa-token-1', `system:serviceaccount:${NS}:fhir-server`);
    const configMaps = new MemoryConfigMaps();
    const runtime = new ControllerRuntime({
      deps: { apis: cluster.apis(), reviewer, configMaps },
      identity: 'ctl-test',
      grpcListen: '127.0.0.1:0',
      statusRefreshMs: 20,
      defaultMetrics: false,
    });
    cleanups.push(() => runtime.stop({ release: false }));
    assert.equal(runtime.ready(), false);
    const address = await runtime.start();
    assert.equal(runtime.ready(), true);
    assert.match(address, /^127\.0\.0\.1:\d+$/);

    const readyOf = (name: string) => condition(policies.objects.get(`${NS}/${name}`), 'Ready');
    const enforcedOf = (name: string) => policies.objects.get(`${NS}/${name}`)?.status?.['enforcedBy'];
    const until = (what: string, ok: () => boolean) => waitFor(() => (ok() ? true : undefined), { what, timeoutMs: 5000, intervalMs: 10 });

    await until('NoWorkloads', () => readyOf('guarded')?.reason === 'NoWorkloads' && runtime.controller.isLeader);
    assert.equal(readyOf('guarded')?.status, 'True');
    assert.deepEqual(enforcedOf('guarded'), { current: 0, total: 0 });

    // The leader's snapshot holds the complete desired state (both policies).
    await until('snapshot', () => configMaps.maps.has(`${NS}/fhirgate-bundle`));
    const snap = JSON.parse(configMaps.maps.get(`${NS}/fhirgate-bundle`)?.data['bundle.json'] ?? '{}') as { policies: Array<{ metadata: { name: string } }> };
    assert.deepEqual(snap.policies.map((p) => p.metadata.name), ['elsewhere', 'guarded']);

    const { sub } = startSubscriber({ address, fhirBasePath: '/fhir' });
    await sub.start();
    await until('Enforced 1/1', () => readyOf('guarded')?.reason === 'Enforced');
    assert.equal(readyOf('guarded')?.status, 'True');
    assert.deepEqual(enforcedOf('guarded'), { current: 1, total: 1 });
    // A sidecar guarding /fhir does not enforce the /other/fhir policy.
    assert.equal(readyOf('elsewhere')?.reason, 'NoWorkloads');
    assert.deepEqual(enforcedOf('elsewhere'), { current: 0, total: 0 });

    // A spec change: the status goes through Propagating or straight to Enforced of the new hash.
    policies.apply(NS, 'guarded', { fhirBasePath: '/fhir', search: { maxCount: 10 } });
    await until('Enforced after the change', () => {
      const o = policies.objects.get(`${NS}/guarded`);
      return o?.status?.['observedGeneration'] === o?.metadata?.generation && readyOf('guarded')?.reason === 'Enforced';
    });

    sub.stop();
    await until('back to NoWorkloads', () => readyOf('guarded')?.reason === 'NoWorkloads');
    assert.deepEqual(enforcedOf('guarded'), { current: 0, total: 0 });
  });

  it('does not serve before the desired state is complete (a list that fails keeps the listener closed)', async () => {
    const cluster = new FakeCluster();
    cluster.of('TokenRevocation').listFailures.push(new Error('revocations unavailable'), new Error('still unavailable'));
    cluster.of('FhirAccessPolicy').apply(NS, 'p', { fhirBasePath: '/fhir' });
    const runtime = new ControllerRuntime({
      deps: { apis: cluster.apis(), reviewer: new FakeReviewer(), configMaps: new MemoryConfigMaps() },
      identity: 'ctl-test',
      grpcListen: '127.0.0.1:0',
      informerBackoff: { baseMs: 200, maxMs: 200, jitter: 0 },
      defaultMetrics: false,
      settlePollMs: 10,
    });
    cleanups.push(() => runtime.stop({ release: false }));
    const serving = runtime.start();
    // Policies are listed, revocations are not: the runtime must wait.
    await waitFor(() => (runtime.controller.informer('FhirAccessPolicy').hasSynced() ? true : undefined), { what: 'policies listed', timeoutMs: 5000, intervalMs: 5 });
    assert.equal(runtime.controller.hasSettled(), false);
    assert.equal(runtime.ready(), false);
    assert.equal(runtime.address, undefined);
    await serving;
    assert.equal(runtime.controller.informer('TokenRevocation').hasSynced(), true);
    assert.equal(runtime.ready(), true);
  });
});
