/**
 * The real test cluster for end-to-end tests: a kube-apiserver on kine, started by the project's
 * own scripts (scripts/cluster/up.sh) in a private state directory and stopped again, or an
 * already running loopback cluster named by `KUBECONFIG` (after `make cluster-up`).
 *
 * kubectl is always the one scripts/cluster/build.sh built at the API server's version, and it is
 * always given `--kubeconfig` explicitly, so a developer's own kubeconfig is never read or changed.
 * A `KUBECONFIG` pointing anywhere but loopback is ignored: tests create and delete cluster-scoped
 * objects, and must never do that to a real cluster by accident.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

const REPO = resolve(import.meta.dirname, '../../..');
const SCRIPTS = join(REPO, 'scripts/cluster');

/** A cold build of kube-apiserver takes many minutes on a 2-core machine; a cached one, none. */
export const BUILD_TIMEOUT_MS = 60 * 60_000;
const UP_TIMEOUT_MS = 5 * 60_000;
const KUBECTL_TIMEOUT_MS = 60_000;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Runs a program without a shell; resolves with its exit code and output (never rejects on exit code). */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? KUBECTL_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Why the cluster cannot be built on this machine, or undefined when it can. Only missing
 * prerequisites count; a build that starts and fails is a test failure, not a skip.
 */
/** The cluster's kubectl as a `Kubectl` (stdout, or a rejection naming stderr). */
export function kubectlOf(cluster: Pick<TestCluster, 'kubectl'>): (args: readonly string[]) => Promise<string> {
  return async (args) => {
    const r = await cluster.kubectl(args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
}

/** A port free on 127.0.0.1 right now (for processes that need a fixed port up front). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** The `skip` reason of a real-cluster suite: opt-in by FHIRGATE_E2E_CLUSTER=1, then prerequisites. */
export function clusterSkipReason(): string | undefined {
  return process.env['FHIRGATE_E2E_CLUSTER'] === '1'
    ? clusterUnavailableReason()
    : 'real-cluster e2e is opt-in: set FHIRGATE_E2E_CLUSTER=1 (the first run builds kube-apiserver, minutes)';
}

export function clusterUnavailableReason(): string | undefined {
  for (const tool of ['go', 'openssl', 'curl', 'python3', 'flock', 'setsid']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    if (found.status !== 0) return `${tool} is not installed: the test cluster cannot be built here`;
  }
  return undefined;
}

/** Builds (or finds in the cache) kube-apiserver, kubectl and kine; returns their directory. */
export async function buildClusterBinaries(): Promise<string> {
  const built = await run(join(SCRIPTS, 'build.sh'), [], { timeoutMs: BUILD_TIMEOUT_MS });
  if (built.code !== 0) throw new Error(`scripts/cluster/build.sh failed (exit ${built.code}):\n${built.stderr}`);
  const binDir = built.stdout.trim().split('\n').at(-1);
  if (binDir === undefined || binDir === '') throw new Error('scripts/cluster/build.sh printed no bin dir');
  return binDir;
}

export interface TestCluster {
  /** Path of the kubeconfig (admin, system:masters) every kubectl call uses. */
  readonly kubeconfig: string;
  /** Directory holding kube-apiserver, kubectl and kine. */
  readonly binDir: string;
  /** True when this process started the cluster (and `stop` will tear it down). */
  readonly startedHere: boolean;
  /** Runs the built kubectl against this cluster. */
  kubectl(args: readonly string[], options?: { input?: string }): Promise<RunResult>;
  /** Stops the cluster and deletes its state if this process started it; otherwise does nothing. */
  stop(): Promise<void>;
  /**
   * Fault injection, only for a cluster this process started (undefined otherwise): stop the API
   * server and its storage (state kept), and start them again on the same ports with the same
   * certificates, so clients holding the kubeconfig reconnect as after a real outage.
   */
  readonly outage?: { stop(): Promise<void>; start(): Promise<void> };
}

/** The server URL of the current context, read without contacting it. */
async function currentServer(kubectlPath: string, kubeconfig: string): Promise<string | undefined> {
  const view = await run(kubectlPath, ['config', 'view', '--minify', '--kubeconfig', kubeconfig, '-o', 'jsonpath={.clusters[0].cluster.server}']);
  return view.code === 0 ? view.stdout.trim() : undefined;
}

function isLoopbackServer(server: string): boolean {
  try {
    const host = new URL(server).hostname;
    return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
  } catch {
    return false;
  }
}

/**
 * Returns a running cluster: the loopback one in `KUBECONFIG` if there is one, otherwise a fresh
 * one in a temporary state directory (certificates, SQLite data and logs stay out of the repo).
 */
export async function startTestCluster(log: (message: string) => void = () => {}): Promise<TestCluster> {
  const binDir = await buildClusterBinaries();
  const kubectlPath = join(binDir, 'kubectl');
  const cacheDir = await mkdtemp(join(tmpdir(), 'fhirgate-kubectl-cache-'));
  const kubectlFor = (kubeconfig: string) => (args: readonly string[], options: { input?: string } = {}) =>
    run(kubectlPath, ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, ...args], options.input === undefined ? {} : { input: options.input });

  const given = process.env['KUBECONFIG'];
  if (given !== undefined && given !== '' && !given.includes(':')) {
    const server = await currentServer(kubectlPath, given);
    if (server !== undefined && isLoopbackServer(server)) {
      log(`reusing the cluster at ${server} from KUBECONFIG=${given}`);
      return {
        kubeconfig: given,
        binDir,
        startedHere: false,
        kubectl: kubectlFor(given),
        stop: () => rm(cacheDir, { recursive: true, force: true }),
      };
    }
    log(`ignoring KUBECONFIG=${given}: its server ${server ?? '(unreadable)'} is not on loopback`);
  }

  const state = await mkdtemp(join(tmpdir(), 'fhirgate-cluster-'));
  const env = { ...process.env, CLUSTER_STATE_DIR: state };
  // If the test process dies without running its hooks, do not leave two daemons behind.
  let stopped = false;
  const stopSync = () => {
    if (!stopped) spawnSync(join(SCRIPTS, 'down.sh'), ['--purge'], { env, stdio: 'ignore', timeout: 30_000 });
  };
  process.once('exit', stopSync);

  const started = Date.now();
  const up = await run(join(SCRIPTS, 'up.sh'), [], { env, timeoutMs: UP_TIMEOUT_MS });
  if (up.code !== 0) {
    const apiserverLog = await readFile(join(state, 'logs/kube-apiserver.log'), 'utf8').catch(() => '');
    stopSync();
    stopped = true;
    throw new Error(`scripts/cluster/up.sh failed (exit ${up.code}):\n${up.stderr}\n${apiserverLog.slice(-4000)}`);
  }
  log(`cluster ready in ${Date.now() - started} ms (state: ${state})`);
  const kubeconfig = join(state, 'kubeconfig');
  if (!up.stdout.includes(`export KUBECONFIG=${kubeconfig}`)) throw new Error(`unexpected up.sh output: ${up.stdout}`);

  const outage = {
    stop: async () => {
      const down = await run(join(SCRIPTS, 'down.sh'), [], { env, timeoutMs: 60_000 });
      if (down.code !== 0) throw new Error(`scripts/cluster/down.sh failed (exit ${down.code}):\n${down.stderr}`);
    },
    start: async () => {
      const ports = Object.fromEntries(
        (await readFile(join(state, 'ports'), 'utf8'))
          .split('\n')
          .map((l) => l.split('='))
          .filter((kv): kv is [string, string] => kv.length === 2),
      );
      const again = await run(join(SCRIPTS, 'up.sh'), [], {
        env: { ...env, CLUSTER_API_PORT: ports['API_PORT'] ?? '', CLUSTER_KINE_PORT: ports['KINE_PORT'] ?? '' },
        timeoutMs: UP_TIMEOUT_MS,
      });
      if (again.code !== 0) throw new Error(`scripts/cluster/up.sh (restart) failed (exit ${again.code}):\n${again.stderr}`);
    },
  };

  return {
    kubeconfig,
    binDir,
    startedHere: true,
    outage,
    kubectl: kubectlFor(kubeconfig),
    stop: async () => {
      if (stopped) return;
      const down = await run(join(SCRIPTS, 'down.sh'), ['--purge'], { env, timeoutMs: 60_000 });
      stopped = true;
      process.removeListener('exit', stopSync);
      await rm(cacheDir, { recursive: true, force: true });
      if (down.code !== 0) throw new Error(`scripts/cluster/down.sh failed (exit ${down.code}):\n${down.stderr}`);
    },
  };
}
