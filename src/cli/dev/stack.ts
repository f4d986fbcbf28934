/**
 * The local stack — demo issuer, sample FHIR server, fhirgate-authz and the real Envoy — started
 * in dependency order, each one waited for with a bounded readiness check. `fhirgate dev` runs it
 * on fixed ports so the printed curl lines are stable; the e2e harness runs it on ephemeral ports.
 * Both use this one function, so the tests exercise exactly what the demo shows.
 *
 * Order: issuer and FHIR server (in this process) → fhirgate-authz (child; it writes its bound
 * gRPC/HTTP addresses to a file) → Envoy bootstrap generated with that gRPC address → Envoy
 * (child; its admin address goes to a file, the listener port is read from the admin API).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateBootstrap } from '../../envoy/bootstrap.ts';
import type { EnvoyBootstrap } from '../../envoy/bootstrap.ts';
import { AUTHZ_NODE_FLAGS } from '../../authz/node-flags.ts';
import { ManagedProcess } from './child.ts';
import { exitedReason, hostPort, startEnvoy } from './envoy-process.ts';
import { FhirServer } from './fhir-server.ts';
import { DemoIssuer } from './issuer.ts';
import { sidecarConfig } from './sidecar-config.ts';
import type { JwksTimings } from './sidecar-config.ts';
import { probeHttp, waitFor } from './wait.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DEFAULT_AUDIENCE = 'fhirgate-demo';

export interface StackPorts {
  /** Envoy's client-facing listener. 0 = ephemeral (read back from the admin API). */
  readonly envoy?: number;
  readonly envoyAdmin?: number;
  readonly issuer?: number;
  readonly fhir?: number;
  /** fhirgate-authz /metrics /healthz /readyz. */
  readonly authzHttp?: number;
}

export interface StackOptions {
  /** Directory for generated configs, address files and logs (created if missing). */
  readonly workDir: string;
  /** Serve ext_authz on loopback TCP instead of a Unix socket (benchmarks compare both). */
  readonly authzTcp?: boolean;
  /** Envoy binary; default $ENVOY_BIN, else the pinned one from scripts/tools.sh. */
  readonly envoyBin?: string;
  readonly ports?: StackPorts;
  readonly audience?: string;
  readonly fhirBasePath?: string;
  /** ext_authz timeout in Envoy. Default 250 ms. */
  readonly authzTimeoutMs?: number;
  /** Body cap shared by Envoy and fhirgate-authz. Default 65536. */
  readonly maxBodyBytes?: number;
  readonly jwks?: JwksTimings;
  /** Bounded wait for each component. Default 20 s. */
  readonly readyTimeoutMs?: number;
  readonly envoyLogLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  readonly authzLogLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Node/V8 flags for the fhirgate-authz process; default AUTHZ_NODE_FLAGS (benchmarks vary them). */
  readonly authzNodeFlags?: readonly string[];
  /** Output lines of the child processes (both streams). */
  readonly onOutput?: (source: 'authz' | 'envoy', line: string) => void;
}

export interface StackFiles {
  readonly sidecarConfig: string;
  readonly sidecarAddresses: string;
  readonly envoyBootstrap: string;
  readonly envoyAdminAddress: string;
  readonly accessLog: string;
}

export interface Stack {
  readonly issuer: DemoIssuer;
  readonly fhir: FhirServer;
  readonly sidecar: ManagedProcess;
  readonly envoy: ManagedProcess;
  /** e.g. http://127.0.0.1:10000 */
  readonly envoyUrl: string;
  readonly adminUrl: string;
  /** fhirgate-authz HTTP base (metrics, health). */
  readonly authzHttpUrl: string;
  readonly bootstrap: EnvoyBootstrap;
  readonly files: StackFiles;
  /** Stop everything this stack started (children first); safe to call twice. */
  stop(): Promise<void>;
}

/** The Envoy binary: $ENVOY_BIN, else the pinned build installed by scripts/tools.sh. */
export function resolveEnvoyBin(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['ENVOY_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const dir = execFileSync(path.join(REPO_ROOT, 'scripts/tools.sh'), ['envoy'], { encoding: 'utf8' }).trim();
  return path.join(dir, 'envoy');
}

interface SidecarAddresses {
  readonly grpc: string;
  readonly http: string;
}

function readAddresses(file: string): SidecarAddresses | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined; // not written yet, or half-written
  }
  const a = doc as Partial<SidecarAddresses> | null;
  return a !== null && typeof a.grpc === 'string' && typeof a.http === 'string' ? { grpc: a.grpc, http: a.http } : undefined;
}

/** Start the whole stack. On any failure everything already started is stopped before rethrowing. */
export async function startStack(opts: StackOptions): Promise<Stack> {
  mkdirSync(opts.workDir, { recursive: true });
  const timeout = opts.readyTimeoutMs ?? 20_000;
  const ports = opts.ports ?? {};
  const maxBody = opts.maxBodyBytes ?? 65536;
  const basePath = opts.fhirBasePath ?? '/fhir';
  const files: StackFiles = {
    sidecarConfig: path.join(opts.workDir, 'fhirgate-authz.json'),
    sidecarAddresses: path.join(opts.workDir, 'authz-addresses.json'),
    envoyBootstrap: path.join(opts.workDir, 'envoy.json'),
    envoyAdminAddress: path.join(opts.workDir, 'envoy-admin.txt'),
    accessLog: path.join(opts.workDir, 'access.log'),
  };
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async (): Promise<void> => {
    while (stops.length > 0) await stops.pop()?.().catch(() => undefined);
  };
  try {
    const issuer = await DemoIssuer.create({ audience: opts.audience ?? DEFAULT_AUDIENCE, port: ports.issuer ?? 0 });
    stops.push(() => issuer.stop());
    const fhir = await FhirServer.create({ port: ports.fhir ?? 0, basePath });
    stops.push(() => fhir.close());

    const config = sidecarConfig({
      issuer: issuer.issuer,
      audience: issuer.audience,
      addressFile: files.sidecarAddresses,
      // Envoy reaches the sidecar over a Unix socket, as in a pod (shared emptyDir): no TCP
      // stack, no Nagle/delayed-ACK stalls on the ext_authz hop, nothing listening on a port.
      ...(opts.authzTcp === true ? {} : { grpcListen: `unix:${path.join(opts.workDir, 'authz.sock')}` }),
      httpListen: `127.0.0.1:${ports.authzHttp ?? 0}`,
      fhirBasePath: basePath,
      maxBodyBytes: maxBody,
      upstreamFhirBaseUrl: `http://127.0.0.1:${fhir.port}${basePath}`,
      ...(opts.jwks === undefined ? {} : { jwks: opts.jwks }),
      ...(opts.authzLogLevel === undefined ? {} : { logLevel: opts.authzLogLevel }),
    });
    writeFileSync(files.sidecarConfig, JSON.stringify(config, null, 2));
    const sidecar = ManagedProcess.spawn(
      'fhirgate-authz',
      process.execPath,
      [...(opts.authzNodeFlags ?? AUTHZ_NODE_FLAGS), path.join(REPO_ROOT, 'cmd/fhirgate-authz.ts'), '--config', files.sidecarConfig],
      { cwd: REPO_ROOT, ...(opts.onOutput === undefined ? {} : { onLine: (l) => opts.onOutput?.('authz', l) }) },
    );
    stops.push(() => sidecar.stop());
    const addresses = await waitFor(() => readAddresses(files.sidecarAddresses), {
      what: 'fhirgate-authz to write its addresses',
      timeoutMs: timeout,
      abortIf: () => exitedReason(sidecar),
    });
    const authzHttpUrl = `http://${addresses.http}`;
    await waitFor(async () => ((await probeHttp(`${authzHttpUrl}/readyz`))?.status === 200 ? true : undefined), {
      what: 'fhirgate-authz /readyz',
      timeoutMs: timeout,
      abortIf: () => exitedReason(sidecar),
    });

    const grpc = addresses.grpc.startsWith('unix:')
      ? { kind: 'unix' as const, path: addresses.grpc.slice('unix:'.length) }
      : { kind: 'tcp' as const, ...hostPort(addresses.grpc) };
    const bootstrap = generateBootstrap({
      serviceName: 'fhirgate-dev',
      listener: { address: '127.0.0.1', port: ports.envoy ?? 0 },
      upstream: { host: '127.0.0.1', port: fhir.port },
      fhirBasePath: basePath,
      authz: { target: grpc, timeoutMs: opts.authzTimeoutMs ?? 250, maxRequestBodyBytes: maxBody },
      admin: { address: '127.0.0.1', port: ports.envoyAdmin ?? 0 },
      accessLogPath: files.accessLog,
    });
    const started = await startEnvoy({
      name: 'envoy',
      bin: opts.envoyBin ?? resolveEnvoyBin(),
      bootstrap,
      dir: opts.workDir,
      logLevel: opts.envoyLogLevel ?? 'warn',
      timeoutMs: timeout,
      ...(opts.onOutput === undefined ? {} : { onLine: (l: string) => opts.onOutput?.('envoy', l) }),
    });
    const envoy = started.proc;
    stops.push(() => envoy.stop());
    const adminUrl = started.adminUrl;
    await waitFor(async () => ((await probeHttp(`${adminUrl}/ready`))?.status === 200 ? true : undefined), {
      what: 'Envoy /ready',
      timeoutMs: timeout,
      abortIf: () => exitedReason(envoy),
    });
    const envoyPort = started.port;
    const envoyUrl = `http://127.0.0.1:${envoyPort}`;
    // End to end: the public capabilities path goes Envoy → sidecar → FHIR server.
    await waitFor(async () => ((await probeHttp(`${envoyUrl}${basePath}/metadata`))?.status === 200 ? true : undefined), {
      what: `${envoyUrl}${basePath}/metadata to answer 200 through Envoy`,
      timeoutMs: timeout,
      abortIf: () => exitedReason(envoy) ?? exitedReason(sidecar),
    });

    let stopped: Promise<void> | undefined;
    return {
      issuer,
      fhir,
      sidecar,
      envoy,
      envoyUrl,
      adminUrl,
      authzHttpUrl,
      bootstrap,
      files,
      stop: () => (stopped ??= stopAll()),
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
