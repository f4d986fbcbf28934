#!/usr/bin/env node
/**
 * fhirgate-controller memory with many policies.
 *
 *   node test/bench/controller-memory.ts [--policies 1000] [--concurrency 8]
 *
 * Starts fhirgate-controller as a child process against the harness's API server, measures it
 * idle, then creates N FhirAccessPolicies through the API server (direct creates with
 * @kubernetes/client-node's CustomObjectsApi, `concurrency` in flight — N kubectl processes would
 * measure kubectl), each with its own base path so none conflicts, waits (bounded) until the
 * controller has written Accepted=True for the current generation of every one, and reads the
 * controller's memory: RSS from /proc/<pid>/status, V8 heap from its own /metrics.
 * The policies are realistic: the patient-app example's spec with a different base path each.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { probeHttp, waitFor } from '../../src/cli/dev/wait.ts';
import { REPO, benchCluster, freePort, startController } from './control-plane.ts';

const NS = 'bench-memory';
const { values } = parseArgs({ options: { policies: { type: 'string' }, concurrency: { type: 'string' } }, strict: true });
const N = Number(values.policies ?? 1000);
const CONCURRENCY = Number(values.concurrency ?? 8);
if (!Number.isInteger(N) || N < 1 || N > 10_000 || !Number.isInteger(CONCURRENCY) || CONCURRENCY < 1 || CONCURRENCY > 64) {
  process.stderr.write('usage: node test/bench/controller-memory.ts [--policies 1..10000] [--concurrency 1..64]\n');
  process.exit(2);
}

interface Memory {
  rssBytes: number;
  heapUsedBytes: number;
}

/** VmRSS of a process, in bytes. */
function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

async function memoryOf(pid: number, metricsUrl: string): Promise<Memory> {
  const res = await probeHttp(metricsUrl, 5000);
  const m = /^fhirgate_controller_nodejs_heap_size_used_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(res?.body ?? '');
  if (m === null) throw new Error('heap gauge missing from the controller metrics');
  return { rssBytes: rssOf(pid), heapUsedBytes: Number(m[1]) };
}

async function main(): Promise<void> {
  const cluster = await benchCluster([NS]);
  const httpPort = await freePort();
  const controller = startController(cluster, { grpc: await freePort(), http: httpPort });
  const base = `http://127.0.0.1:${httpPort}`;
  try {
    const pid = controller.pid;
    if (pid === undefined) throw new Error('controller did not start');
    await waitFor(async () => ((await probeHttp(`${base}/readyz`))?.status === 200 ? true : undefined), {
      what: 'controller /readyz',
      timeoutMs: 60_000,
      intervalMs: 100,
      abortIf: () => (controller.exitStatus === undefined ? undefined : controller.output()),
    });
    const idle = await memoryOf(pid, `${base}/metrics`);

    const example = parseYaml(readFileSync(join(REPO, 'manifests/examples/patient-app-policy.yaml'), 'utf8')) as { spec: Record<string, unknown> };
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const api = kc.makeApiClient(CustomObjectsApi);
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < N; i = next++) {
        await api.createNamespacedCustomObject({
          group: 'fhirgate.io',
          version: 'v1alpha1',
          namespace: NS,
          plural: 'fhiraccesspolicies',
          body: {
            apiVersion: 'fhirgate.io/v1alpha1',
            kind: 'FhirAccessPolicy',
            metadata: { name: `policy-${String(i).padStart(5, '0')}`, namespace: NS },
            spec: { ...example.spec, fhirBasePath: `/tenant-${i}/fhir`, baseUrl: `https://ehr.example.org/tenant-${i}/fhir` },
          },
        });
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const created = performance.now();

    type Item = { metadata: { generation: number }; status?: { observedGeneration?: number; conditions?: Array<{ type: string; status: string }> } };
    let accepted = 0;
    await waitFor(
      async () => {
        const list = (await api.listNamespacedCustomObject({ group: 'fhirgate.io', version: 'v1alpha1', namespace: NS, plural: 'fhiraccesspolicies' })) as { items: Item[] };
        accepted = list.items.filter(
          (o) => o.status?.observedGeneration === o.metadata.generation && o.status.conditions?.some((c) => c.type === 'Accepted' && c.status === 'True'),
        ).length;
        return accepted === N ? true : undefined;
      },
      { what: `all ${N} policies Accepted`, timeoutMs: 10 * 60_000, intervalMs: 1000, abortIf: () => (controller.exitStatus === undefined ? undefined : controller.output()) },
    );
    const allAccepted = performance.now();
    const loaded = await memoryOf(pid, `${base}/metrics`);

    const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
    const out = [
      `fhirgate-controller memory with ${N} FhirAccessPolicies (created through the API, ${CONCURRENCY} in flight)`,
      `  idle (CRDs, no policy):   RSS ${mib(idle.rssBytes)}  heap used ${mib(idle.heapUsedBytes)}`,
      `  ${N} policies Accepted:  RSS ${mib(loaded.rssBytes)}  heap used ${mib(loaded.heapUsedBytes)}`,
      `  per policy (delta / N):   RSS ${((loaded.rssBytes - idle.rssBytes) / N / 1024).toFixed(1)} KiB  heap ${((loaded.heapUsedBytes - idle.heapUsedBytes) / N / 1024).toFixed(1)} KiB`,
      `  creates took ${((created - started) / 1000).toFixed(1)} s; all Accepted ${((allAccepted - started) / 1000).toFixed(1)} s after the first create`,
      `  load average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (nproc ${availableParallelism()})`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await controller.stop();
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`controller-memory: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
