#!/usr/bin/env node
/**
 * The `fhirgate` command-line tool. Each subcommand lives in one module under src/cli/ exporting a
 * `run(argv): Promise<number>`; this file only dispatches. A new command (explain, test, lint) is
 * one entry in COMMANDS plus its module. Modules are imported lazily so `fhirgate lint` does not
 * load the demo stack.
 */

interface Command {
  readonly summary: string;
  readonly load: () => Promise<(argv: readonly string[]) => Promise<number>>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  dev: {
    summary: 'run the local demo stack (Envoy, fhirgate-authz, demo issuer, sample FHIR server)',
    load: async () => (await import('../src/cli/dev/command.ts')).runDev,
  },
  'cluster-dev': {
    summary: 'run fhirgate-controller, fhirgate-authz and Envoy against the local test cluster',
    load: async () => (await import('../src/cli/cluster-dev.ts')).runClusterDev,
  },
  explain: {
    summary: 'show what fhirgate-authz would answer for one request, and why',
    load: async () => (await import('../src/cli/explain.ts')).runExplain,
  },
  test: {
    summary: 'run policy test cases (YAML) against FhirAccessPolicy files',
    load: async () => (await import('../src/cli/test-runner.ts')).runTest,
  },
  lint: {
    summary: 'validate FhirAccessPolicy files offline (schema and compiler checks)',
    load: async () => (await import('../src/cli/lint.ts')).runLint,
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `usage: fhirgate <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun "fhirgate <command> --help" for a command's options.\n`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    process.stderr.write(`fhirgate: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  return (await command.load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fhirgate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
