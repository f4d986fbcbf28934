#!/usr/bin/env node
/**
 * fhirgate-authz: the Envoy ext_authz sidecar.
 *
 *   fhirgate-authz --config FILE [--listen-grpc ADDR] [--listen-http ADDR] [--log-level LEVEL]
 *
 * Environment: FHIRGATE_CONFIG, FHIRGATE_LISTEN_GRPC, FHIRGATE_LISTEN_HTTP, FHIRGATE_LOG_LEVEL.
 * Exit codes: 0 after a clean shutdown, 2 for a bad command line or configuration, 1 otherwise.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../src/authz/config.ts';
import { Sidecar } from '../src/authz/sidecar.ts';
import { createLogger } from '../src/telemetry/logger.ts';

const USAGE = 'usage: fhirgate-authz --config FILE [--listen-grpc ADDR] [--listen-http ADDR] [--log-level LEVEL]';

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: 'string' },
        'listen-grpc': { type: 'string' },
        'listen-http': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    process.stderr.write(`fhirgate-authz: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const file = args.config ?? process.env['FHIRGATE_CONFIG'];
  if (file === undefined) {
    process.stderr.write(`fhirgate-authz: --config is required\n${USAGE}\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig({
      file,
      env: process.env,
      overrides: {
        ...(args['listen-grpc'] !== undefined ? { grpc: args['listen-grpc'] } : {}),
        ...(args['listen-http'] !== undefined ? { http: args['listen-http'] } : {}),
        ...(args['log-level'] !== undefined ? { logLevel: args['log-level'] } : {}),
      },
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`fhirgate-authz: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger({ level: config.log.level, bindings: { component: 'fhirgate-authz' } });
  const sidecar = await Sidecar.create({ config, logger });
  await sidecar.start();
  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      logger.info('shutting down', { signal: sig });
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  await sidecar.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Never print a stack trace with config contents; name and code are enough to act on.
    const e = err as { name?: string; code?: string; message?: string };
    process.stderr.write(`fhirgate-authz: fatal: ${e.name ?? 'Error'}${e.code ? ` (${e.code})` : ''}: ${String(e.message ?? '').split('\n')[0]}\n`);
    process.exit(1);
  },
);
