/**
 * Installing fhirgate's CRDs on a cluster and waiting until the API server serves them. The wait
 * polls the `Established` condition instead of `kubectl wait`, which fails at once ("accessor
 * error: <nil>") when it looks before the API server has written any condition.
 */
import path from 'node:path';
import { allCrds } from '../../k8s/manifests.ts';
import { waitFor } from './wait.ts';

/** Runs kubectl with these arguments and resolves with stdout; rejects on a non-zero exit. */
export type Kubectl = (args: readonly string[]) => Promise<string>;

export async function waitForCrdsEstablished(kubectl: Kubectl, names: readonly string[], timeoutMs = 60_000): Promise<void> {
  // Listing every CRD (not `get crd NAME…`, which returns a bare object for one name) gives one
  // `name=status` line per CRD.
  const jsonpath = '{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Established")].status}{"\\n"}{end}';
  await waitFor(
    async () => {
      const out = await kubectl(['get', 'crd', '-o', `jsonpath=${jsonpath}`]).catch(() => '');
      const established = new Set(out.split('\n').filter((l) => l.endsWith('=True')).map((l) => l.slice(0, -'=True'.length)));
      return names.every((n) => established.has(n)) ? true : undefined;
    },
    { what: 'CRDs Established', timeoutMs, intervalMs: 100 },
  );
}

/** `kubectl apply --server-side` the generated CRDs, then wait until all are Established. */
export async function installCrds(kubectl: Kubectl, repoRoot: string): Promise<void> {
  await kubectl(['apply', '--server-side', '-f', path.join(repoRoot, 'manifests/crds')]);
  await waitForCrdsEstablished(kubectl, allCrds().map((c) => c.metadata.name));
}
