#!/usr/bin/env node
/**
 * Policy propagation: from `kubectl apply` to enforcement in 50 sidecars.
 *
 *   node test/bench/propagation.ts [--sidecars 50] [--changes 50]
 *
 * Real parts: the API server (the e2e harness's cluster, or a loopback one named by KUBECONFIG),
 * fhirgate-controller as a child process, `kubectl apply -f -` for every change (spawned per
 * change, as a user or a CD pipeline would). The sidecars are 50 real `Subscriber` instances (the
 * code fhirgate-authz runs) in this process, each on its own gRPC stream, authenticated by a real
 * service-account token through a real TokenReview; each records when it has APPLIED the bundle
 * with the new policy (hash verified, policy compiled, swapped in, ACK sent).
 *
 * Per change the clock starts just before kubectl is spawned. Figures: per change, the time until
 * the LAST of the 50 sidecars enforces it (p50/p99 over the changes — the goal is p99 ≤ 1 s),
 * every sidecar's individual latency, and how much of it kubectl itself takes (process start,
 * request, exit). Changes are applied one after the other, each once the previous one is
 * everywhere; nothing else writes to the cluster meanwhile.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Subscriber } from '../../src/authz/subscriber.ts';
import { waitFor } from '../../src/cli/dev/wait.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { benchCluster, freePort, percentile, startController } from './control-plane.ts';

const NS = 'bench';
const SA = 'fhir-server';

const { values } = parseArgs({ options: { sidecars: { type: 'string' }, changes: { type: 'string' } }, strict: true });
const SIDECARS = Number(values.sidecars ?? 50);
const CHANGES = Number(values.changes ?? 50);
if (!Number.isInteger(SIDECARS) || SIDECARS < 1 || SIDECARS > 500 || !Number.isInteger(CHANGES) || CHANGES < 1 || CHANGES > 1000) {
  process.stderr.write('usage: node test/bench/propagation.ts [--sidecars 1..500] [--changes 1..1000]\n');
  process.exit(2);
}

/** The policy at change `i`: a different page cap each time, so each change is a new version. */
const manifest = (i: number) =>
  JSON.stringify({
    apiVersion: 'fhirgate.io/v1alpha1',
    kind: 'FhirAccessPolicy',
    metadata: { name: 'bench', namespace: NS },
    spec: { fhirBasePath: '/fhir', scopes: { levels: ['patient', 'user'] }, search: { maxCount: 100 + i } },
  });

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fhirgate-bench-propagation-'));
  const cluster = await benchCluster([NS]);
  const subscribers: Subscriber[] = [];
  const grpcPort = await freePort();
  const address = `127.0.0.1:${grpcPort}`;
  const controller = startController(cluster, { grpc: grpcPort, http: await freePort() });
  try {
    await cluster.kubectl(['create', 'serviceaccount', '-n', NS, SA]);
    const applied0 = await cluster.kubectl(['apply', '-f', '-'], { input: manifest(0) });
    if (applied0.code !== 0) throw new Error(applied0.stderr);
    const token = await cluster.kubectl(['create', 'token', '-n', NS, SA, '--audience', 'fhirgate-controller', '--duration', '1h']);
    if (token.code !== 0) throw new Error(token.stderr);
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, token.stdout.trim());

    // Per sidecar: when it applied which hash.
    const appliedAt: Array<Map<string, number>> = [];
    const lastHash: Array<string | undefined> = [];
    for (let i = 0; i < SIDECARS; i++) {
      const sub = new Subscriber({
        config: { address, tokenFile, fhirBasePath: '/fhir', pod: `bench-${i}`, backoff: { initialMs: 100, maxMs: 1000 } },
        log: silentLogger,
      });
      const seen = new Map<string, number>();
      appliedAt.push(seen);
      lastHash.push(undefined);
      sub.onEvent((e) => {
        if (e.type !== 'applied') return;
        seen.set(e.hash, performance.now());
        lastHash[i] = e.hash;
      });
      subscribers.push(sub);
      await sub.start();
    }
    const allOn = (pred: (h: string | undefined) => boolean) => lastHash.every(pred);
    await waitFor(() => (allOn((h) => h !== undefined) && subscribers.every((s) => s.authorizer() !== undefined) ? true : undefined), {
      what: `${SIDECARS} sidecars to enforce the first version`,
      timeoutMs: 60_000,
      intervalMs: 20,
      abortIf: () => (controller.exitStatus === undefined ? undefined : controller.output()),
    });

    const lastSidecar: number[] = [];
    const perSidecar: number[] = [];
    const kubectlMs: number[] = [];
    for (let c = 1; c <= CHANGES; c++) {
      const before = lastHash[0];
      const t0 = performance.now();
      const r = await cluster.kubectl(['apply', '-f', '-'], { input: manifest(c) });
      const tKubectl = performance.now();
      if (r.code !== 0) throw new Error(`kubectl apply (change ${c}): ${r.stderr}`);
      await waitFor(() => (allOn((h) => h !== undefined && h !== before) ? true : undefined), {
        what: `change ${c} in all ${SIDECARS} sidecars`,
        timeoutMs: 30_000,
        intervalMs: 2,
      });
      const times = appliedAt.map((m, i) => (m.get(lastHash[i]!) ?? NaN) - t0);
      const newest = new Set(lastHash);
      if (newest.size !== 1) throw new Error(`change ${c}: sidecars disagree on the bundle (${newest.size} hashes)`);
      perSidecar.push(...times);
      lastSidecar.push(Math.max(...times));
      kubectlMs.push(tKubectl - t0);
    }

    const f = (v: number) => `${v.toFixed(0)} ms`;
    const p99 = percentile(lastSidecar, 99);
    const out = [
      `policy propagation, kubectl apply → applied in all of ${SIDECARS} sidecars (real Subscribers, one process), ${CHANGES} changes`,
      `  until the last sidecar:  p50 ${f(percentile(lastSidecar, 50))}  p99 ${f(p99)}  max ${f(Math.max(...lastSidecar))}   goal p99 ≤ 1000 ms: ${p99 <= 1000 ? 'PASS' : 'FAIL'}`,
      `  each sidecar (${perSidecar.length}):   p50 ${f(percentile(perSidecar, 50))}  p99 ${f(percentile(perSidecar, 99))}`,
      `  of which kubectl itself: p50 ${f(percentile(kubectlMs, 50))}  p99 ${f(percentile(kubectlMs, 99))} (spawn → exit; the API write is inside)`,
      `  load average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (nproc ${availableParallelism()})`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    for (const s of subscribers) s.stop();
    await controller.stop();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`propagation: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
