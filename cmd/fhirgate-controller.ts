#!/usr/bin/env node
/**
 * fhirgate-controller: watches fhirgate's custom resources, validates them with the same compiler
 * as the CLI and the sidecar, keeps the desired state every sidecar bundle is built from, serves
 * it to sidecars over `PolicyDistribution` (every replica), and as the elected leader writes
 * status (Accepted, Ready = enforced by the connected sidecars, enforcedBy), Events and the
 * per-namespace cold-start snapshot ConfigMap. See src/controller/runtime.ts.
 *
 *   fhirgate-controller [--kubeconfig FILE] [--namespace NS] [--lease-duration SECONDS]
 *                       [--http-listen HOST:PORT] [--grpc-listen HOST:PORT]
 *                       [--grpc-tls-cert FILE --grpc-tls-key FILE]
 *                       [--identity NAME] [--workers N] [--log-level LEVEL]
 *
 * The same kubeconfig serves the informers, status writes, TokenReviews (sidecar authentication)
 * and the snapshot ConfigMaps. Sidecar streams carry service-account tokens: outside loopback,
 * give the gRPC listener a certificate.
 *
 * SIGTERM/SIGINT: end sidecar streams (they keep their bundles), stop informers, drain the work
 * queue, release the Lease, exit 0.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { parseListen, startHealthServer } from '../src/controller/health-server.ts';
import { ControllerRuntime, kubeRuntimeDeps } from '../src/controller/runtime.ts';
import { loadKubeConfig, serverOf } from '../src/k8s/client/index.ts';
import { createLogger, isLogLevel } from '../src/telemetry/logger.ts';

const USAGE =
  'usage: fhirgate-controller [--kubeconfig FILE] [--namespace NS] [--lease-duration SECONDS] [--http-listen HOST:PORT] ' +
  '[--grpc-listen HOST:PORT] [--grpc-tls-cert FILE --grpc-tls-key FILE] [--identity NAME] [--workers N] [--log-level debug|info|warn|error]';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

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
        'grpc-listen': { type: 'string' },
        'grpc-tls-cert': { type: 'string' },
        'grpc-tls-key': { type: 'string' },
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

  const grpcListen = values['grpc-listen'] ?? '0.0.0.0:9443';
  let grpcHost: string;
  try {
    grpcHost = parseListen(grpcListen).host;
  } catch {
    fail(`--grpc-listen must be host:port, got ${JSON.stringify(grpcListen)}`);
  }
  const certFile = values['grpc-tls-cert'];
  const keyFile = values['grpc-tls-key'];
  if ((certFile === undefined) !== (keyFile === undefined)) fail('--grpc-tls-cert and --grpc-tls-key go together');
  let grpcCredentials: grpc.ServerCredentials | undefined;
  if (certFile !== undefined && keyFile !== undefined) {
    try {
      grpcCredentials = grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(certFile), private_key: readFileSync(keyFile) }], false);
    } catch (err) {
      fail(`cannot load the gRPC TLS certificate: ${err instanceof Error ? err.message : String(err)}`);
    }
  } else if (!LOOPBACK.has(grpcHost)) {
    log.warn('policy distribution listens without TLS on a non-loopback address; sidecar tokens cross the network in the clear', { grpcListen });
  }

  const kc = loadKubeConfig(kubeconfigPath);
  const runtime = new ControllerRuntime({
    deps: kubeRuntimeDeps(kc, { leaseNamespace: namespace, identity }),
    identity,
    grpcListen,
    ...(grpcCredentials !== undefined ? { grpcCredentials } : {}),
    workers,
    leaseDurationMs: leaseSeconds * 1000,
    logger: log,
  });
  const http = await startHealthServer(values['http-listen'] ?? '0.0.0.0:9090', runtime.controller.metrics.registry, () => runtime.ready());
  const serving = runtime.start();
  log.info('fhirgate-controller running', { server: serverOf(kc), leaseNamespace: namespace, identity, httpPort: http.port });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    // A drain that hangs (API server gone) must not keep the pod past its grace period.
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    runtime
      .stop({ release: true })
      .then(() => http.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  serving.then(
    (address) => log.info('policy distribution listening', { address }),
    (err: unknown) => {
      if (stopping) return;
      // Without the listener no sidecar can get a bundle: exit and let the Deployment restart us.
      log.error('policy distribution could not start', { error: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    },
  );
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`fhirgate-controller: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
