/**
 * Starting the real Envoy for the dev stack, `cluster-dev`, the e2e tests and the benchmarks:
 * write the bootstrap, spawn with the flags every caller needs (`--use-dynamic-base-id` so
 * parallel Envoys never collide, `--admin-address-path` to learn the admin port), then wait —
 * bounded — for the admin address and the bound listener port. On failure the process is stopped.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ManagedProcess } from './child.ts';
import { probeHttp, waitFor } from './wait.ts';

export interface EnvoyStartOptions {
  /** Process name (logs, diagnostics); also names the files written into `dir`. */
  readonly name?: string;
  readonly bin: string;
  /** A bootstrap from src/envoy/bootstrap.ts (or derived from one). */
  readonly bootstrap: object;
  /** Directory for the bootstrap and admin-address files; also the working directory. */
  readonly dir: string;
  readonly logLevel?: string;
  readonly timeoutMs: number;
  readonly onLine?: (line: string) => void;
  /** Extra reason to give up waiting (e.g. another child exited). */
  readonly abortIf?: () => string | undefined;
}

export interface EnvoyProcess {
  readonly proc: ManagedProcess;
  readonly bootstrapFile: string;
  readonly adminUrl: string;
  /** The port the (first) listener is bound to. */
  readonly port: number;
}

/** Why a child is gone, with the tail of its output; undefined while it runs. */
export function exitedReason(p: ManagedProcess): string | undefined {
  const s = p.exitStatus;
  if (s === undefined) return undefined;
  return `${p.name} exited (code ${String(s.code)}, signal ${String(s.signal)}):\n${p.output().split('\n').slice(-30).join('\n')}`;
}

/** "host:port" (IPv6 in brackets) → parts, for an authz target in a bootstrap. Throws on junk. */
export function hostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(addr.slice(i + 1));
  if (i < 1 || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad address ${JSON.stringify(addr)}`);
  return { host, port };
}

/** The port of Envoy's first listener, from its admin API; undefined until bound. */
export async function envoyListenerPort(adminUrl: string): Promise<number | undefined> {
  const res = await probeHttp(`${adminUrl}/listeners?format=json`);
  if (res?.status !== 200) return undefined;
  const doc = JSON.parse(res.body) as { listener_statuses?: Array<{ local_address?: { socket_address?: { port_value?: number } } }> };
  const port = doc.listener_statuses?.[0]?.local_address?.socket_address?.port_value;
  return typeof port === 'number' && port > 0 ? port : undefined;
}

export async function startEnvoy(opts: EnvoyStartOptions): Promise<EnvoyProcess> {
  const name = opts.name ?? 'envoy';
  const bootstrapFile = path.join(opts.dir, `${name}.json`);
  const adminFile = path.join(opts.dir, `${name}-admin.txt`);
  writeFileSync(bootstrapFile, JSON.stringify(opts.bootstrap, null, 2));
  const proc = ManagedProcess.spawn(
    name,
    opts.bin,
    [
      '-c', bootstrapFile,
      '--use-dynamic-base-id',
      '--log-level', opts.logLevel ?? 'warn',
      '--admin-address-path', adminFile,
      // Flush the access log quickly so tests and people see lines right away.
      '--file-flush-interval-msec', '100',
    ],
    { cwd: opts.dir, ...(opts.onLine === undefined ? {} : { onLine: opts.onLine }) },
  );
  const abortIf = (): string | undefined => exitedReason(proc) ?? opts.abortIf?.();
  try {
    const adminUrl = await waitFor(
      () => {
        try {
          const a = readFileSync(adminFile, 'utf8').trim();
          return a === '' ? undefined : `http://${a}`;
        } catch {
          return undefined;
        }
      },
      { what: `${name} admin address`, timeoutMs: opts.timeoutMs, abortIf },
    );
    const port = await waitFor(() => envoyListenerPort(adminUrl), { what: `${name} listener port`, timeoutMs: opts.timeoutMs, abortIf });
    return { proc, bootstrapFile, adminUrl, port };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}
