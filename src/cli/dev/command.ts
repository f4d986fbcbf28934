/**
 * `fhirgate dev`: run the local demo stack on fixed loopback ports and print curl commands that
 * show an allow, a 401 and a 403 through the real Envoy. Ctrl-C (SIGINT) or SIGTERM stops every
 * process the stack started and exits 0.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PERSONAS } from './personas.ts';
import { startStack } from './stack.ts';
import type { Stack } from './stack.ts';

export const DEV_DEFAULT_PORTS = Object.freeze({ envoy: 10000, envoyAdmin: 9901, issuer: 9400, fhir: 9500, authzHttp: 9090 });

export const DEV_USAGE = `usage: fhirgate dev [options]

Starts the demo stack on 127.0.0.1: the real Envoy, fhirgate-authz, a demo OIDC/SMART issuer
and a sample FHIR server with synthetic data. Prints curl commands; Ctrl-C stops everything.

options:
  --port N           Envoy listener port (default ${DEV_DEFAULT_PORTS.envoy})
  --admin-port N     Envoy admin port, loopback only (default ${DEV_DEFAULT_PORTS.envoyAdmin})
  --issuer-port N    demo issuer port (default ${DEV_DEFAULT_PORTS.issuer})
  --fhir-port N      sample FHIR server port (default ${DEV_DEFAULT_PORTS.fhir})
  --authz-http-port N  fhirgate-authz metrics/health port (default ${DEV_DEFAULT_PORTS.authzHttp})
  --quiet            do not echo fhirgate-authz audit lines and Envoy warnings
  -h, --help         show this help
`;

export interface DevArgs {
  readonly ports: { envoy: number; envoyAdmin: number; issuer: number; fhir: number; authzHttp: number };
  readonly quiet: boolean;
  readonly help: boolean;
}

function port(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n < 1 || n > 65535) throw new TypeError(`--${name} must be a port number 1..65535`);
  return n;
}

/** Parse `fhirgate dev` arguments. Throws TypeError with a message for the user on bad input. */
export function parseDevArgs(argv: readonly string[]): DevArgs {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: 'string' },
      'admin-port': { type: 'string' },
      'issuer-port': { type: 'string' },
      'fhir-port': { type: 'string' },
      'authz-http-port': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const ports = {
    envoy: port('port', values.port, DEV_DEFAULT_PORTS.envoy),
    envoyAdmin: port('admin-port', values['admin-port'], DEV_DEFAULT_PORTS.envoyAdmin),
    issuer: port('issuer-port', values['issuer-port'], DEV_DEFAULT_PORTS.issuer),
    fhir: port('fhir-port', values['fhir-port'], DEV_DEFAULT_PORTS.fhir),
    authzHttp: port('authz-http-port', values['authz-http-port'], DEV_DEFAULT_PORTS.authzHttp),
  };
  if (new Set(Object.values(ports)).size !== Object.values(ports).length) throw new TypeError('every port must be different');
  return { ports, quiet: values.quiet, help: values.help };
}

/** The ready-to-paste demo commands for a running stack. */
export function demoInstructions(s: { envoyUrl: string; issuerUrl: string; adminUrl: string; authzHttpUrl: string; basePath: string }): string {
  const fhir = `${s.envoyUrl}${s.basePath}`;
  const token = (persona: string): string => `$(curl -s ${s.issuerUrl}/token/${persona} | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`;
  const personas = Object.values(PERSONAS)
    .map((p) => `    ${p.name.padEnd(12)} ${p.description}`)
    .join('\n');
  return `
fhirgate demo is running (Ctrl-C stops everything).

  FHIR through Envoy   ${fhir}
  demo issuer          ${s.issuerUrl}   (tokens: GET /token/<persona>, dev only)
  fhirgate-authz       ${s.authzHttpUrl}/metrics
  Envoy admin          ${s.adminUrl}

  personas:
${personas}

# 200 — the patient app reads observations
TOKEN=${token('patient-app')}
curl -i -H "Authorization: Bearer $TOKEN" '${fhir}/Observation?patient=example-patient-1'

# 200 — narrowed: the patient app searches without naming a patient; fhirgate adds
#       patient=Patient/example-patient-1 through Envoy's query rewrite (see 'total')
curl -s -H "Authorization: Bearer $TOKEN" '${fhir}/Observation' | head -c 300; echo

# 200 / 404 — instance reads are checked against the FHIR server: own observation, then another patient's
curl -s -o /dev/null -w '%{http_code}\\n' -H "Authorization: Bearer $TOKEN" '${fhir}/Observation/obs-hr-1'
curl -s -o /dev/null -w '%{http_code}\\n' -H "Authorization: Bearer $TOKEN" '${fhir}/Observation/obs-hr-2'

# 403 — the patient app asks for another patient's data (patient_compartment_violation)
curl -i -H "Authorization: Bearer $TOKEN" '${fhir}/Observation?patient=example-patient-2'

# 401 — no token (WWW-Authenticate: Bearer, OperationOutcome body)
curl -i '${fhir}/Observation'

# 401 — a token that is not valid
curl -i -H 'Authorization: Bearer not-a-real-token' '${fhir}/Observation'

# 403 — a token without any FHIR scope
TOKEN=${token('no-scope')}
curl -i -H "Authorization: Bearer $TOKEN" '${fhir}/Observation'

# public capabilities, no token needed
curl -s '${fhir}/metadata' | head -c 300; echo
`;
}

/** Run the demo until SIGINT/SIGTERM. Returns the process exit code. */
export async function runDev(argv: readonly string[]): Promise<number> {
  let args: DevArgs;
  try {
    args = parseDevArgs(argv);
  } catch (err) {
    process.stderr.write(`fhirgate dev: ${(err as Error).message}\n\n${DEV_USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(DEV_USAGE);
    return 0;
  }
  const workDir = mkdtempSync(path.join(tmpdir(), 'fhirgate-dev-'));
  let stack: Stack;
  try {
    stack = await startStack({
      workDir,
      ports: args.ports,
      onOutput: (source, line) => {
        if (!args.quiet) process.stderr.write(`[${source}] ${line}\n`);
      },
    });
  } catch (err) {
    process.stderr.write(`fhirgate dev: could not start the stack: ${(err as Error).message}\n`);
    rmSync(workDir, { recursive: true, force: true });
    return 1;
  }
  process.stdout.write(
    demoInstructions({
      envoyUrl: stack.envoyUrl,
      issuerUrl: stack.issuer.issuer,
      adminUrl: stack.adminUrl,
      authzHttpUrl: stack.authzHttpUrl,
      basePath: stack.fhir.basePath,
    }),
  );
  process.stdout.write(`\n  access log: ${stack.files.accessLog}\n`);

  const signalled = await new Promise<NodeJS.Signals | 'child-exit'>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    void stack.sidecar.exited.then(() => resolve('child-exit'));
    void stack.envoy.exited.then(() => resolve('child-exit'));
  });
  process.stderr.write(signalled === 'child-exit' ? '\nfhirgate dev: a component exited; stopping\n' : '\nfhirgate dev: stopping\n');
  await stack.stop();
  rmSync(workDir, { recursive: true, force: true });
  return signalled === 'child-exit' ? 1 : 0;
}
