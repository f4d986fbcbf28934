/**
 * Where the controller finds its API server: an explicit kubeconfig file (`--kubeconfig`), else
 * the usual search (`KUBECONFIG`, `~/.kube/config`, then the in-cluster service account).
 * Refuses to start without a current cluster instead of failing on the first request.
 */
import { KubeConfig } from '@kubernetes/client-node';

export class KubeConfigError extends Error {
  readonly code = 'ERR_KUBECONFIG';
}

export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (path !== undefined && path !== '') kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (err) {
    throw new KubeConfigError(`cannot load kubeconfig${path ? ` ${path}` : ''}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null || cluster.server === '') throw new KubeConfigError('the kubeconfig names no current cluster');
  return kc;
}

/** The API server URL (for logs; carries no credentials). */
export function serverOf(kc: KubeConfig): string {
  return kc.getCurrentCluster()?.server ?? '';
}
