/**
 * `fhirgate cluster-dev`: the control plane and the data plane of issue 4, running in the
 * foreground against the local test cluster (scripts/cluster/up.sh), so that
 * `kubectl apply -f manifests/examples/` can be watched turning into Envoy answers.
 *
 *   kubectl ──▶ kube-apiserver ◀── fhirgate-controller (child)
 *                                       │ PolicyDistribution (service-account token, TokenReview)
 *   curl ──▶ Envoy :10080 ──ext_authz──▶ fhirgate-authz (child, controller mode) ──▶ https issuer
 *              └──▶ sample FHIR server (/fhir)
 *
 * It installs what a user's cluster would already have — CRDs, the `ehr` and `fhirgate-system`
 * namespaces, a ServiceAccount for the sidecar, a TrustedIssuer for the https demo issuer — but
 * no FhirAccessPolicy: until the user applies one, the sidecar has no bundle and every request is
 * denied with `policy_unavailable` (503). That is the point of the demo: fail closed first.
 *
 * Everything binds 127.0.0.1; the ports are fixed (not the `fhirgate dev` ones) so the printed
 * curl lines stay valid. Files live in `<state-dir>/cluster-dev/`, recreated on every start:
 * the throwaway issuer CA, the sidecar's token (0600), generated configs, the access log, and
 * `instructions.txt` + `ready`, written once Envoy answers (scripts/cluster/dev-up.sh waits for
 * them). SIGINT/SIGTERM, or any child exiting, stops every process this command started.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AUTHZ_NODE_FLAGS } from '../authz/node-flags.ts';
import { generateBootstrap } from '../envoy/bootstrap.ts';
import { ManagedProcess } from './dev/child.ts';
import { installCrds } from './dev/crds.ts';
import { exitedReason, hostPort, startEnvoy } from './dev/envoy-process.ts';
import { FhirServer } from './dev/fhir-server.ts';
import { HttpsIssuer, makeIssuerCa } from './dev/https-issuer.ts';
import { REPO_ROOT, resolveEnvoyBin } from './dev/stack.ts';
import { probeHttp, waitFor } from './dev/wait.ts';

export const CLUSTER_DEV_DEFAULT_PORTS = Object.freeze({ envoy: 10080, issuer: 10443, fhir: 10580, grpc: 10900 });

/** The namespace of the examples, and of everything the sidecar is configured from. */
export const APP_NAMESPACE = 'ehr';
/** The controller's Lease lives here. */
export const CONTROL_NAMESPACE = 'fhirgate-system';
/** The patient-app example's fhirBasePath: the sidecar guards it, so that policy is enforced. */
export const GUARDED_BASE_PATH = '/fhir';
const AUDIENCE = 'fhirgate-demo';
const SERVICE_ACCOUNT = 'fhir-server';
const TRUSTED_ISSUER = 'demo-issuer';
const KUBECTL_TIMEOUT_MS = 60_000;
const BODY_LIMIT = 65536;

export const CLUSTER_DEV_USAGE = `usage: fhirgate cluster-dev --kubeconfig FILE --state-dir DIR [options]

Runs fhirgate-controller, fhirgate-authz (controller mode), an https demo issuer, a sample FHIR
server and the real Envoy against the local test cluster, in the foreground. Installs the CRDs,
the namespaces ${APP_NAMESPACE} and ${CONTROL_NAMESPACE}, a ServiceAccount and a TrustedIssuer; no
policy, so requests are denied until \`kubectl apply -f manifests/examples/\`.
Usually started in the background by scripts/cluster/dev-up.sh (\`make cluster-up\`).

options:
  --kubeconfig FILE    kubeconfig of the cluster (scripts/cluster/up.sh writes one)
  --state-dir DIR      the cluster state dir; files go to DIR/cluster-dev/
  --kubectl PATH       kubectl to use (default: kubectl on PATH)
  --port N             Envoy listener port (default ${CLUSTER_DEV_DEFAULT_PORTS.envoy})
  --issuer-port N      https demo issuer port (default ${CLUSTER_DEV_DEFAULT_PORTS.issuer})
  --fhir-port N        sample FHIR server port (default ${CLUSTER_DEV_DEFAULT_PORTS.fhir})
  --grpc-port N        controller policy-distribution port (default ${CLUSTER_DEV_DEFAULT_PORTS.grpc})
  -h, --help           show this help
`;

export interface ClusterDevArgs {
  readonly kubeconfig: string;
  readonly stateDir: string;
  readonly kubectl: string;
  readonly ports: { envoy: number; issuer: number; fhir: number; grpc: number };
  readonly help: boolean;
}

function portArg(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n < 1 || n > 65535) throw new TypeError(`--${name} must be a port number 1..65535`);
  return n;
}

/** Parse `fhirgate cluster-dev` arguments. Throws TypeError with a message for the user. */
export function parseClusterDevArgs(argv: readonly string[]): ClusterDevArgs {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      kubeconfig: { type: 'string' },
      'state-dir': { type: 'string' },
      kubectl: { type: 'string' },
      port: { type: 'string' },
      'issuer-port': { type: 'string' },
      'fhir-port': { type: 'string' },
      'grpc-port': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const ports = {
    envoy: portArg('port', values.port, CLUSTER_DEV_DEFAULT_PORTS.envoy),
    issuer: portArg('issuer-port', values['issuer-port'], CLUSTER_DEV_DEFAULT_PORTS.issuer),
    fhir: portArg('fhir-port', values['fhir-port'], CLUSTER_DEV_DEFAULT_PORTS.fhir),
    grpc: portArg('grpc-port', values['grpc-port'], CLUSTER_DEV_DEFAULT_PORTS.grpc),
  };
  if (new Set(Object.values(ports)).size !== Object.values(ports).length) throw new TypeError('every port must be different');
  const help = values.help;
  const kubeconfig = values.kubeconfig ?? '';
  const stateDir = values['state-dir'] ?? '';
  if (!help && (kubeconfig === '' || stateDir === '')) throw new TypeError('--kubeconfig and --state-dir are required');
  return { kubeconfig, stateDir, kubectl: values.kubectl ?? 'kubectl', ports, help };
}

/** Single-quote for a POSIX shell, so printed paths paste safely whatever they contain. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

export interface InstructionsInput {
  readonly kubeconfig: string;
  readonly kubectl: string;
  readonly envoyUrl: string;
  readonly issuerUrl: string;
  readonly caFile: string;
  readonly logFile?: string;
}

/**
 * What to paste, in the order that tells the story: denied before any policy, apply the
 * examples, see them Accepted/Ready, then an allow and two denials through Envoy. Tokens come
 * from the https demo issuer (verified against its throwaway CA, never `-k`) for the
 * `patient-app` persona, whose client_id `demo-patient-app` is the client the patient-app
 * example bounds with a scope ceiling, and for `clinician`, whose user/ scopes that policy
 * refuses (it accepts patient-level scopes only).
 */
export function clusterDevInstructions(s: InstructionsInput): string {
  const fhir = `${s.envoyUrl}${GUARDED_BASE_PATH}`;
  const kubectl = s.kubectl === 'kubectl' ? 'kubectl' : shellQuote(s.kubectl);
  const token = (persona: string): string =>
    `$(curl -s --cacert ${shellQuote(s.caFile)} ${s.issuerUrl}/token/${persona} | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`;
  const show = `-s -w '\\nHTTP %{http_code}\\n'`;
  return `
fhirgate cluster-dev is running: fhirgate-controller, fhirgate-authz (controller mode) and the real
Envoy on ${s.envoyUrl}, guarding ${GUARDED_BASE_PATH} (the patient-app example's base path).${s.logFile === undefined ? '' : `\nLogs: ${s.logFile}`}

export KUBECONFIG=${shellQuote(s.kubeconfig)}
${kubectl === 'kubectl' ? '' : `alias kubectl=${kubectl}   # the kubectl built at the API server's version\n`}
# 503 policy_unavailable — no FhirAccessPolicy yet: fail closed
curl ${show} '${fhir}/Observation'

# apply the examples, then watch them become Accepted and Ready (ENFORCED 1 for patient-app)
kubectl apply -f manifests/examples/
kubectl wait --for=condition=Ready -n ${APP_NAMESPACE} fhiraccesspolicies --all --timeout=60s
kubectl get fhiraccesspolicies -n ${APP_NAMESPACE}
kubectl get fhiraccesspolicies -n ${APP_NAMESPACE} patient-app -o jsonpath='{.status.conditions}'; echo

# 200 — the patient app (client demo-patient-app) reads its patient's observations
TOKEN=${token('patient-app')}
curl ${show} -H "Authorization: Bearer $TOKEN" '${fhir}/Observation'

# 403 — the same app asks for another patient's data (patient_compartment_violation)
curl ${show} -H "Authorization: Bearer $TOKEN" '${fhir}/Observation?patient=example-patient-2'

# 403 — a clinician token: the patient-app policy accepts patient-level scopes only
TOKEN=${token('clinician')}
curl ${show} -H "Authorization: Bearer $TOKEN" '${fhir}/Observation'

# stop everything (controller, sidecar, Envoy, API server)
make cluster-down
`;
}

/** Runs kubectl with an explicit kubeconfig; rejects with its stderr on a non-zero exit. */
function kubectlRunner(kubectl: string, kubeconfig: string): (args: readonly string[], input?: string) => Promise<string> {
  return (args, input) =>
    new Promise((resolve, reject) => {
      const child = spawn(kubectl, ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      const timer = setTimeout(() => child.kill('SIGKILL'), KUBECTL_TIMEOUT_MS);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
        else reject(new Error(`kubectl ${args.join(' ')} failed (exit ${String(code)}): ${Buffer.concat(err).toString('utf8').trim()}`));
      });
      child.stdin.end(input ?? '');
    });
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined; // not written yet, or half-written
  }
}

interface Running {
  readonly children: ManagedProcess[];
  readonly instructions: string;
}

/** Install the cluster-side objects and start every process; `stops` collects the undo steps. */
async function startAll(args: ClusterDevArgs, dir: string, stops: (() => Promise<unknown>)[], log: (m: string) => void): Promise<Running> {
  const timeout = 60_000;
  const kubectl = kubectlRunner(args.kubectl, args.kubeconfig);
  log('installing CRDs and namespaces');
  await installCrds(kubectl, REPO_ROOT);
  const objects = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: APP_NAMESPACE } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: CONTROL_NAMESPACE } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SERVICE_ACCOUNT, namespace: APP_NAMESPACE } },
  ];
  await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));

  const caDir = path.join(dir, 'issuer-ca');
  mkdirSync(caDir, { recursive: true, mode: 0o700 });
  const ca = makeIssuerCa(caDir, 30);
  const issuer = await HttpsIssuer.start(ca, AUDIENCE, args.ports.issuer);
  stops.push(() => issuer.close());
  const trustedIssuer = {
    apiVersion: 'fhirgate.io/v1alpha1',
    kind: 'TrustedIssuer',
    metadata: { name: TRUSTED_ISSUER, namespace: APP_NAMESPACE },
    spec: { issuer: issuer.issuer, audiences: [AUDIENCE], algorithms: ['ES256'], discovery: true, allowedTyp: ['at+jwt'], clockSkewSeconds: 30, maxLifetimeSeconds: 3600 },
  };
  await kubectl(['apply', '-f', '-'], JSON.stringify(trustedIssuer));

  const fhir = await FhirServer.create({ port: args.ports.fhir, basePath: GUARDED_BASE_PATH });
  stops.push(() => fhir.close());

  log('starting fhirgate-controller');
  const controller = ManagedProcess.spawn(
    'fhirgate-controller',
    process.execPath,
    [
      path.join(REPO_ROOT, 'cmd/fhirgate-controller.ts'),
      '--kubeconfig', args.kubeconfig,
      '--namespace', CONTROL_NAMESPACE,
      // Short, so a controller restarted after a crash takes the lease back within seconds.
      '--lease-duration', '5',
      '--http-listen', '127.0.0.1:0',
      '--grpc-listen', `127.0.0.1:${args.ports.grpc}`,
      '--identity', `cluster-dev-${process.pid}`,
    ],
    { cwd: REPO_ROOT, onLine: (l) => log(`[controller] ${l}`) },
  );
  stops.push(() => controller.stop());

  // The sidecar proves its workload identity with a real service-account token (TokenReview).
  const tokenFile = path.join(dir, 'sa-token');
  const saToken = await kubectl(['create', 'token', '-n', APP_NAMESPACE, SERVICE_ACCOUNT, '--audience', 'fhirgate-controller', '--duration', '24h']);
  writeFileSync(tokenFile, saToken.trim(), { mode: 0o600 });
  chmodSync(tokenFile, 0o600);

  const addressFile = path.join(dir, 'authz-addresses.json');
  const configFile = path.join(dir, 'fhirgate-authz.json');
  const config = {
    listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', addressFile },
    controller: { address: `127.0.0.1:${args.ports.grpc}`, tokenFile, fhirBasePath: GUARDED_BASE_PATH, pod: 'fhir-0', backoff: { initialMs: 200, maxMs: 2000 } },
    upstream: { fhirBaseUrl: `http://127.0.0.1:${fhir.port}${GUARDED_BASE_PATH}`, timeoutMs: 1000, cacheSeconds: 30 },
    body: { maxBytes: BODY_LIMIT },
    audit: { sink: 'stdout' },
    log: { level: 'info' },
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  log('starting fhirgate-authz (controller mode)');
  const sidecar = ManagedProcess.spawn('fhirgate-authz', process.execPath, [...AUTHZ_NODE_FLAGS, path.join(REPO_ROOT, 'cmd/fhirgate-authz.ts'), '--config', configFile], {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.caFile },
    onLine: (l) => log(`[authz] ${l}`),
  });
  stops.push(() => sidecar.stop());
  // Not /readyz: without a policy the sidecar is rightly not Ready, yet it answers (denies).
  const addresses = await waitFor(() => readJson<{ grpc: string; http: string }>(addressFile), {
    what: 'fhirgate-authz to write its addresses',
    timeoutMs: timeout,
    abortIf: () => exitedReason(sidecar) ?? exitedReason(controller),
  });

  const bootstrap = generateBootstrap({
    serviceName: 'fhirgate-cluster-dev',
    listener: { address: '127.0.0.1', port: args.ports.envoy },
    upstream: { host: '127.0.0.1', port: fhir.port },
    fhirBasePath: GUARDED_BASE_PATH,
    authz: { target: { kind: 'tcp', ...hostPort(addresses.grpc) }, timeoutMs: 500, maxRequestBodyBytes: BODY_LIMIT },
    admin: { address: '127.0.0.1', port: 0 },
    accessLogPath: path.join(dir, 'access.log'),
  });
  log('starting Envoy');
  const envoy = (
    await startEnvoy({
      bin: resolveEnvoyBin(),
      bootstrap,
      dir,
      timeoutMs: timeout,
      onLine: (l) => log(`[envoy] ${l}`),
      abortIf: () => exitedReason(sidecar) ?? exitedReason(controller),
    })
  ).proc;
  stops.push(() => envoy.stop());
  const envoyUrl = `http://127.0.0.1:${args.ports.envoy}`;
  // Any answer from the listener will do: before a policy exists it is a 503 from the sidecar.
  await waitFor(async () => ((await probeHttp(`${envoyUrl}${GUARDED_BASE_PATH}/metadata`)) === undefined ? undefined : true), {
    what: `${envoyUrl} to answer`,
    timeoutMs: timeout,
    intervalMs: 100,
    abortIf: () => exitedReason(envoy) ?? exitedReason(sidecar) ?? exitedReason(controller),
  });

  const instructions = clusterDevInstructions({
    kubeconfig: args.kubeconfig,
    kubectl: args.kubectl,
    envoyUrl,
    issuerUrl: issuer.issuer,
    caFile: ca.caFile,
    logFile: path.join(args.stateDir, 'logs/cluster-dev.log'),
  });
  return { children: [controller, sidecar, envoy], instructions };
}

/** Run until SIGINT/SIGTERM or until a child exits. Returns the process exit code. */
export async function runClusterDev(argv: readonly string[]): Promise<number> {
  let args: ClusterDevArgs;
  try {
    args = parseClusterDevArgs(argv);
  } catch (err) {
    process.stderr.write(`fhirgate cluster-dev: ${(err as Error).message}\n\n${CLUSTER_DEV_USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(CLUSTER_DEV_USAGE);
    return 0;
  }
  const log = (m: string): void => {
    process.stderr.write(`${m}\n`);
  };
  const dir = path.join(path.resolve(args.stateDir), 'cluster-dev');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async (): Promise<void> => {
    while (stops.length > 0) await stops.pop()?.().catch(() => undefined);
  };
  // A stop asked for while starting up is honoured at once: the wrapper's down.sh waits only
  // a bounded time before SIGKILL, which would orphan the children started so far.
  const onStartupSignal = (sig: NodeJS.Signals): void => {
    log(`fhirgate cluster-dev: ${sig} during start-up; stopping`);
    void stopAll().then(() => process.exit(0));
  };
  process.on('SIGINT', onStartupSignal);
  process.on('SIGTERM', onStartupSignal);

  let running: Running;
  try {
    running = await startAll(args, dir, stops, log);
  } catch (err) {
    log(`fhirgate cluster-dev: could not start: ${(err as Error).message}`);
    await stopAll();
    return 1;
  }
  process.off('SIGINT', onStartupSignal);
  process.off('SIGTERM', onStartupSignal);
  writeFileSync(path.join(dir, 'instructions.txt'), running.instructions);
  writeFileSync(path.join(dir, 'ready'), `${new Date().toISOString()}\n`);
  process.stdout.write(running.instructions);

  const why = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    for (const child of running.children) void child.exited.then(() => resolve(`${child.name} exited`));
  });
  log(`fhirgate cluster-dev: stopping (${why})`);
  rmSync(path.join(dir, 'ready'), { force: true });
  await stopAll();
  return why === 'SIGINT' || why === 'SIGTERM' ? 0 : 1;
}
