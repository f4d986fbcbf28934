/**
 * What the control-plane benchmarks (propagation.ts, controller-memory.ts) share: the test
 * cluster from the e2e harness with the CRDs installed, fhirgate-controller as a real child
 * process (`node cmd/fhirgate-controller.ts`), free loopback ports and percentiles.
 * Not a benchmark itself.
 */
import { join, resolve } from 'node:path';
import { ManagedProcess } from '../../src/cli/dev/child.ts';
import { freePort, startTestCluster } from '../e2e/cluster/harness.ts';
import { installCrds } from '../../src/cli/dev/crds.ts';
export { freePort };
import type { TestCluster } from '../e2e/cluster/harness.ts';

export const REPO = resolve(import.meta.dirname, '../..');
export const LEASE_NS = 'fhirgate-system';

/** The cluster with fhirgate's CRDs established and the given namespaces created. */
export async function benchCluster(namespaces: readonly string[]): Promise<TestCluster> {
  const cluster = await startTestCluster((m) => process.stderr.write(`# ${m}\n`));
  const must = async (args: readonly string[]) => {
    const r = await cluster.kubectl(args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await installCrds(must, REPO);
  for (const ns of [LEASE_NS, ...namespaces]) await cluster.kubectl(['create', 'namespace', ns]);
  return cluster;
}

/** fhirgate-controller as a child process on the given loopback ports. */
export function startController(cluster: TestCluster, ports: { grpc: number; http: number }): ManagedProcess {
  return ManagedProcess.spawn(
    'fhirgate-controller',
    process.execPath,
    [
      join(REPO, 'cmd/fhirgate-controller.ts'),
      '--kubeconfig', cluster.kubeconfig,
      '--namespace', LEASE_NS,
      '--lease-duration', '5',
      '--http-listen', `127.0.0.1:${ports.http}`,
      '--grpc-listen', `127.0.0.1:${ports.grpc}`,
      '--identity', 'bench-controller',
      '--log-level', 'warn',
    ],
    { cwd: REPO, keepLines: 200 },
  );
}

/** Nearest-rank percentile (p in 0..100) of an unsorted sample; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}
