/**
 * The servers a Check benchmark arm measures — the no-op grpc-js handler and the real
 * fhirgate-authz binary — started as child processes (optionally pinned to one CPU), waited for
 * with bounded readiness checks, and stopped for certain. One Check is sent through a grpc-js
 * client before any load, so a run that would only measure fast denials stops instead.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ManagedProcess } from '../../../src/cli/dev/child.ts';
import { probeHttp, waitFor } from '../../../src/cli/dev/wait.ts';
import { AUTHZ_NODE_FLAGS } from '../../../src/authz/node-flags.ts';
import { clientConstructor } from '../../../src/envoy/proto.ts';
import { REPO_ROOT, pinned } from './tools.ts';

export interface RunningServer {
  readonly name: string;
  readonly pid: number;
  /** "127.0.0.1:PORT" */
  readonly grpc: string;
  /** fhirgate-authz only: http://127.0.0.1:PORT/metrics */
  readonly metricsUrl: string | undefined;
  stop(): Promise<void>;
}

const READY_MS = 30_000;

function readAddressFile(file: string): { grpc: string; http?: string } | undefined {
  try {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { grpc?: unknown; http?: unknown };
    if (typeof doc.grpc !== 'string') return undefined;
    return typeof doc.http === 'string' ? { grpc: doc.grpc, http: doc.http } : { grpc: doc.grpc };
  } catch {
    return undefined;
  }
}

function exited(p: ManagedProcess): string | undefined {
  const s = p.exitStatus;
  return s === undefined ? undefined : `${p.name} exited (${String(s.code ?? s.signal)}): ${p.output().split('\n').slice(-10).join('\n')}`;
}

async function launch(
  name: string,
  script: string,
  args: string[],
  addressFile: string,
  cpu: number | undefined,
  nodeFlags: readonly string[],
): Promise<{ proc: ManagedProcess; grpc: string; http: string | undefined }> {
  const [cmd, argv] = pinned(cpu, process.execPath, [...nodeFlags, script, ...args]);
  const proc = ManagedProcess.spawn(name, cmd, argv, { cwd: REPO_ROOT });
  try {
    const addr = await waitFor(() => readAddressFile(addressFile), { what: `${name} address file`, timeoutMs: READY_MS, abortIf: () => exited(proc) });
    return { proc, grpc: addr.grpc, http: addr.http };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

function handle(name: string, proc: ManagedProcess, grpcAddr: string, metricsUrl: string | undefined): RunningServer {
  const pid = proc.pid;
  if (pid === undefined) throw new Error(`${name} has no pid`);
  return { name, pid, grpc: grpcAddr, metricsUrl, stop: async () => void (await proc.stop(5000)) };
}

/** `nodeFlags` go before the script (e.g. --cpu-prof); `server` see noop-server.ts. */
export async function startNoop(
  workDir: string,
  cpu: number | undefined,
  maxBodyBytes: number,
  nodeFlags: readonly string[] = [],
  server: 'grpc-js' | 'fhirgate' = 'grpc-js',
): Promise<RunningServer> {
  const addressFile = path.join(workDir, `noop-${Date.now()}.json`);
  const { proc, grpc: addr } = await launch(
    'noop-server',
    path.join(REPO_ROOT, 'test/bench/noop-server.ts'),
    ['--address-file', addressFile, '--max-body-bytes', String(maxBodyBytes), '--server', server],
    addressFile,
    cpu,
    nodeFlags,
  );
  return handle('noop-server', proc, addr, undefined);
}

/** Start fhirgate-authz with `config` (its listen.addressFile is overwritten here). */
export async function startSidecar(
  workDir: string,
  cpu: number | undefined,
  config: Record<string, unknown>,
  nodeFlags: readonly string[] = [],
): Promise<RunningServer> {
  const stamp = Date.now();
  const addressFile = path.join(workDir, `authz-${stamp}.json`);
  const configFile = path.join(workDir, `authz-${stamp}.config.json`);
  const listen = { ...(config['listen'] as Record<string, unknown>), addressFile };
  writeFileSync(configFile, JSON.stringify({ ...config, listen }, null, 2));
  const { proc, grpc: addr, http } = await launch(
    'fhirgate-authz',
    path.join(REPO_ROOT, 'cmd/fhirgate-authz.ts'),
    ['--config', configFile],
    addressFile,
    cpu,
    // What production runs with, then the benchmark's own (e.g. --cpu-prof).
    [...AUTHZ_NODE_FLAGS, ...nodeFlags],
  );
  try {
    await waitFor(async () => ((await probeHttp(`http://${http ?? ''}/readyz`))?.status === 200 ? true : undefined), {
      what: 'fhirgate-authz /readyz',
      timeoutMs: READY_MS,
      abortIf: () => exited(proc),
    });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return handle('fhirgate-authz', proc, addr, `http://${http ?? ''}/metrics`);
}

type CheckReply = { status?: { code?: number }; ok_response?: unknown; denied_response?: unknown };

/** Send one Check: 'allow' only for status 0 with an ok_response, else 'deny'. */
export async function checkOnce(address: string, request: Record<string, unknown>): Promise<'allow' | 'deny'> {
  const Client = clientConstructor('authorization');
  const client = new Client(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Check(req: unknown, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: CheckReply) => void): void;
  };
  try {
    const res = await new Promise<CheckReply | undefined>((resolve, reject) => {
      client.Check(request, { deadline: new Date(Date.now() + 5000) }, (err, value) => (err ? reject(err) : resolve(value)));
    });
    // proto3 omits a zero code on the wire; the oneof says which answer it is.
    return (res?.status?.code ?? 0) === 0 && res?.ok_response !== undefined ? 'allow' : 'deny';
  } finally {
    client.close();
  }
}
