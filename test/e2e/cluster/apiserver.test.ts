/**
 * The real test cluster works the way a user would use it: kubectl talks to the API server at the
 * pinned version, the admin is a cluster admin while RBAC still denies strangers, and the API
 * server itself enforces a CRD's CEL rules (`x-kubernetes-validations`), the first of the three
 * validation layers fhirgate's CRDs rely on.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { waitForCrdsEstablished } from '../../../src/cli/dev/crds.ts';
import { BUILD_TIMEOUT_MS, clusterSkipReason, kubectlOf, run, startTestCluster } from './harness.ts';
import type { RunResult, TestCluster } from './harness.ts';

/**
 * Opt-in for now: `make test` globs test/e2e/**, and on a machine without the cached binaries the
 * first run compiles kube-apiserver for many minutes. Set FHIRGATE_E2E_CLUSTER=1 to run it.
 */
const skipReason = clusterSkipReason();

const CRD_NAME = 'rangeprobes.e2e.fhirgate.io';
const CEL_MESSAGE = 'minReplicas must not exceed maxReplicas';

const CRD = JSON.stringify({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: CRD_NAME },
  spec: {
    group: 'e2e.fhirgate.io',
    scope: 'Namespaced',
    names: { plural: 'rangeprobes', singular: 'rangeprobe', kind: 'RangeProbe', listKind: 'RangeProbeList' },
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['minReplicas', 'maxReplicas'],
                properties: {
                  minReplicas: { type: 'integer', minimum: 0 },
                  maxReplicas: { type: 'integer', minimum: 0 },
                },
                'x-kubernetes-validations': [{ rule: 'self.minReplicas <= self.maxReplicas', message: CEL_MESSAGE }],
              },
            },
          },
        },
      },
    ],
  },
});

function probe(name: string, minReplicas: number, maxReplicas: number): string {
  return JSON.stringify({
    apiVersion: 'e2e.fhirgate.io/v1alpha1',
    kind: 'RangeProbe',
    metadata: { name, namespace: 'default' },
    spec: { minReplicas, maxReplicas },
  });
}

function ok(result: RunResult, what: string): string {
  assert.equal(result.code, 0, `${what} failed:\n${result.stderr}`);
  return result.stdout;
}

/**
 * kubectl's discovery can lag a just-established CRD for a moment ("no matches for kind"); retry
 * only that answer, a bounded number of times. Any other outcome, success or refusal, returns.
 */
async function applyOnce(cluster: TestCluster, manifest: string): Promise<RunResult> {
  let result: RunResult = { code: null, stdout: '', stderr: '' };
  for (let attempt = 0; attempt < 40; attempt++) {
    result = await cluster.kubectl(['apply', '-f', '-'], { input: manifest });
    if (!/no matches for kind|could not find the requested resource/.test(result.stderr)) return result;
    await new Promise((r) => setTimeout(r, 250));
  }
  return result;
}

describe('real kube-apiserver test cluster', { skip: skipReason ?? false }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await startTestCluster((message) => console.log(`# cluster: ${message}`));
  }, { timeout: BUILD_TIMEOUT_MS });

  after(async () => {
    if (cluster === undefined) return;
    try {
      if (!cluster.startedHere) await cluster.kubectl(['delete', 'crd', CRD_NAME, '--ignore-not-found', '--wait=false']);
    } finally {
      await cluster.stop();
    }
  }, { timeout: 120_000 });

  it('reports the pinned version for both kubectl and the API server', async () => {
    const version = JSON.parse(ok(await cluster.kubectl(['version', '-o', 'json']), 'kubectl version')) as {
      clientVersion?: { gitVersion?: string; major?: string; minor?: string };
      serverVersion?: { gitVersion?: string; major?: string; minor?: string };
    };
    const built = ok(await run(join(cluster.binDir, 'kube-apiserver'), ['--version']), 'kube-apiserver --version').trim();
    const pinned = built.replace(/^Kubernetes /, '');
    assert.match(pinned, /^v1\.\d+\.\d+$/, `kube-apiserver --version said ${built}`);
    assert.equal(version.clientVersion?.gitVersion, pinned);
    if (cluster.startedHere) {
      assert.equal(version.serverVersion?.gitVersion, pinned);
    }
    // Never v0.0.0: the version must have been stamped into the build.
    assert.equal(version.serverVersion?.major, '1');
    assert.ok(Number(version.serverVersion?.minor) >= 35, `server minor ${version.serverVersion?.minor}`);
  });

  it('lists the namespaces the API server creates by itself', async () => {
    const list = JSON.parse(ok(await cluster.kubectl(['get', 'ns', '-o', 'json']), 'kubectl get ns')) as {
      items: Array<{ metadata: { name: string } }>;
    };
    const names = list.items.map((ns) => ns.metadata.name);
    for (const expected of ['default', 'kube-system', 'kube-public']) {
      assert.ok(names.includes(expected), `namespace ${expected} missing from ${names.join(', ')}`);
    }
  });

  it('makes the kubeconfig user a cluster admin while RBAC denies others', async () => {
    const admin = await cluster.kubectl(['auth', 'can-i', '*', '*']);
    assert.equal(admin.code, 0, admin.stderr);
    assert.equal(admin.stdout.trim(), 'yes');
    // The admin may impersonate; a user with no bindings gets "no" (exit 1), proving RBAC is on.
    const stranger = await cluster.kubectl(['auth', 'can-i', 'list', 'secrets', '--as', 'e2e-stranger']);
    assert.equal(stranger.stdout.trim(), 'no');
    assert.equal(stranger.code, 1);
  });

  it('enforces a CRD CEL rule in the API server: rejects the violating object, stores the valid one', async () => {
    ok(await cluster.kubectl(['apply', '-f', '-'], { input: CRD }), 'applying the CRD');
    await waitForCrdsEstablished(kubectlOf(cluster), [CRD_NAME]);

    const rejected = await applyOnce(cluster, probe('inverted', 5, 2));
    assert.notEqual(rejected.code, 0, `a violating object was accepted:\n${rejected.stdout}`);
    assert.match(rejected.stderr, /is invalid/);
    assert.ok(rejected.stderr.includes(CEL_MESSAGE), `expected the CEL message, got:\n${rejected.stderr}`);
    const missing = await cluster.kubectl(['get', 'rangeprobe', 'inverted', '-n', 'default']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /NotFound|not found/);

    // The OpenAPI schema is enforced too (minimum: 0), with the schema's own message.
    const negative = await applyOnce(cluster, probe('negative', -1, 2));
    assert.notEqual(negative.code, 0, 'a negative minReplicas was accepted');
    assert.match(negative.stderr, /should be greater than or equal to 0/);

    ok(await applyOnce(cluster, probe('ordered', 1, 3)), 'applying a valid object');
    const stored = JSON.parse(ok(await cluster.kubectl(['get', 'rangeprobe', 'ordered', '-n', 'default', '-o', 'json']), 'reading it back')) as {
      spec?: { minReplicas?: number; maxReplicas?: number };
    };
    assert.deepEqual(stored.spec, { minReplicas: 1, maxReplicas: 3 });

    // CEL rules apply to updates as well: turning the valid object invalid is refused.
    const update = await applyOnce(cluster, probe('ordered', 4, 3));
    assert.notEqual(update.code, 0, 'an update violating the CEL rule was accepted');
    assert.ok(update.stderr.includes(CEL_MESSAGE), update.stderr);
    ok(await cluster.kubectl(['delete', 'rangeprobe', 'ordered', '-n', 'default']), 'deleting the valid object');
  });
});
