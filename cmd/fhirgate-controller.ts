#!/usr/bin/env node
/**
 * fhirgate-controller: watches fhirgate's custom resources, validates them with the same compiler
 * as the CLI and the sidecar, keeps the desired state every sidecar bundle is built from, and (as
 * the elected leader) writes status and Events.
 *
 *   fhirgate-controller [--kubeconfig FILE] [--namespace NS] [--lease-duration SECONDS]
 *                       [--http-listen HOST:PORT] [--identity NAME] [--workers N] [--log-level LEVEL]
 *
 * SIGTERM/SIGINT: stop informers, drain the work queue, release the Lease, exit 0.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { Controller } from '../src/controller/controller.ts';
import { startHealthServer } from '../src/controller/health-server.ts';
import { kubeControllerApis } from '../src/controller/kube-apis.ts';
import { loadKubeConfig, serverOf } from '../src/k8s/client/index.ts';
import { createLogger, isLogLevel } from '../src/telemetry/logger.ts';

const USAGE = 'usage: fhirgate-controller [--kubeconfig FILE] [--namespace NS] [--lease-duration SECONDS] [--http-listen HOST:PORT] [--identity NAME] [--workers N] [--log-level debug|info|warn|error]';

function fail(message: string): never {
  process.stderr.write(`fhirgate-controller: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function intFlag(name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} must be an integer in ${min}..${max}`);
  return n;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        'lease-duration': { type: 'string' },
        'http-listen': { type: 'string' },
        identity: { type: 'string' },
        workers: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const level = values['log-level'] ?? process.env['FHIRGATE_LOG_LEVEL'] ?? 'info';
  if (!isLogLevel(level)) fail(`unknown log level ${level}`);
  const log = createLogger({ level, bindings: { service: 'fhirgate-controller' } });
  const namespace = values.namespace ?? process.env['POD_NAMESPACE'] ?? 'fhirgate-system';
  const leaseSeconds = intFlag('lease-duration', values['lease-duration'], 15, 2, 300);
  const workers = intFlag('workers', values.workers, 2, 1, 64);
  const identity = values.identity ?? `${process.env['POD_NAME'] ?? hostname()}_${randomBytes(4).toString('hex')}`;
  const kubeconfigPath = values.kubeconfig;

  const kc = loadKubeConfig(kubeconfigPath);
  const controller = new Controller({
    apis: kubeControllerApis(kc, { leaseNamespace: namespace, identity }),
    identity,
    workers,
    leaseDurationMs: leaseSeconds * 1000,
    logger: log,
  });
  const http = await startHealthServer(values['http-listen'] ?? '0.0.0.0:9090', controller.metrics.registry, () => controller.hasSynced());
  controller.start();
  log.info('fhirgate-controller running', { server: serverOf(kc), leaseNamespace: namespace, identity, httpPort: http.port });

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    // A drain that hangs (API server gone) must not keep the pod past its grace period.
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    controller
      .stop({ release: true })
      .then(() => http.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`fhirgate-controller: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
