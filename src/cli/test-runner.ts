/**
 * `fhirgate test`: policy unit tests, like `opa test`. Each YAML test file names a policy file
 * and lists cases (claims + request → expected decision); every case runs through the sidecar's
 * Check pipeline (src/cli/shared/evaluate.ts). Test files are validated with ajv against a closed
 * schema, so a misspelt expectation is an error rather than a silently passing test.
 *
 * Exit status: 0 all cases passed (skipped cases allowed), 1 a case failed, 2 a test file or the
 * policy it names could not be used.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { ManualClock } from '../core/clock.ts';
import type { Clock } from '../core/clock.ts';
import { REASONS } from '../core/reasons.ts';
import { setUpCredential } from './shared/credential.ts';
import { UsageError } from './shared/errors.ts';
import { evaluate } from './shared/evaluate.ts';
import type { Evaluation } from './shared/evaluate.ts';
import { processIo } from './shared/io.ts';
import type { CliIo } from './shared/io.ts';
import { loadPolicies, selectPolicy } from './shared/policies.ts';
import type { PolicySource } from './shared/policies.ts';
import { pathOf } from './shared/request.ts';

export const TEST_USAGE = `usage: fhirgate test [options] DIR|FILE…

Runs policy test cases from YAML files (every *.yaml / *.yml under a DIR, recursively).
Each case is evaluated by the same pipeline as fhirgate-authz. See docs/policy.md for the format.

options:
  -v, --verbose   also print the reason and rule of passing cases
  -h, --help      show this help

Exit status: 0 all passed, 1 a case failed, 2 a test file or its policy is invalid.
`;

// ── test-file format ───────────────────────────────────────────────────────────────────────────

type HeaderValues = string | readonly string[];

export interface TestRequest {
  readonly method: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, HeaderValues>>;
  /** A JSON value (sent as JSON) or a raw string (sent as is). */
  readonly body?: unknown;
  /** The FHIR server's assumed answer to verify-instance obligations (default match). */
  readonly assumeInstance?: 'match' | 'no-match' | 'unavailable';
}

export interface TestExpect {
  readonly decision: 'allow' | 'deny';
  readonly status?: number;
  readonly reason?: string;
  readonly phase?: string;
  /** Prefix of the deciding rule. */
  readonly rule?: string;
  /** Exact: `set` must equal the rewrites set, `remove` the removals (each when given). */
  readonly rewrites?: { readonly set?: Readonly<Record<string, string>>; readonly remove?: readonly string[] };
  /** A count, or the exact list of obligations. */
  readonly obligations?: number | ReadonlyArray<{ readonly kind: string; readonly detail?: Readonly<Record<string, string>> }>;
  /** Exact list of patients the allowed request reaches. */
  readonly patients?: readonly string[];
  readonly breakGlass?: boolean;
}

export interface TestCase {
  readonly name: string;
  /** Claims of an already-verified token; `null` = no credential at all. Merged over defaults. */
  readonly claims?: Readonly<Record<string, unknown>> | null;
  readonly request: TestRequest;
  readonly expect: TestExpect;
  /** When set, the case is reported as skipped with this reason (e.g. a known engine bug). */
  readonly skip?: string;
}

export interface TestFile {
  /** Policy file(s), relative to the test file. */
  readonly policy: string | readonly string[];
  readonly defaults?: { readonly claims?: Readonly<Record<string, unknown>>; readonly headers?: Readonly<Record<string, HeaderValues>> };
  readonly tests: readonly TestCase[];
}

const HEADERS = {
  type: 'object',
  maxProperties: 64,
  propertyNames: { pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]{1,256}$' },
  additionalProperties: { oneOf: [{ type: 'string' }, { type: 'array', minItems: 1, maxItems: 8, items: { type: 'string' } }] },
} as const;
const CLAIMS = { type: 'object', maxProperties: 128 } as const;
const REASON_NAMES = ['allowed', ...Object.keys(REASONS)];

/** JSON Schema of a test file (draft 2020-12); unknown fields are errors everywhere we own. */
export const testFileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['policy', 'tests'],
  properties: {
    policy: {
      oneOf: [
        { type: 'string', minLength: 1, maxLength: 4096 },
        { type: 'array', minItems: 1, maxItems: 32, items: { type: 'string', minLength: 1, maxLength: 4096 } },
      ],
    },
    defaults: { type: 'object', additionalProperties: false, properties: { claims: CLAIMS, headers: HEADERS } },
    tests: {
      type: 'array',
      minItems: 1,
      maxItems: 10000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'request', 'expect'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 200 },
          skip: { type: 'string', minLength: 1, maxLength: 500 },
          claims: { oneOf: [CLAIMS, { type: 'null' }] },
          request: {
            type: 'object',
            additionalProperties: false,
            required: ['method', 'url'],
            properties: {
              method: { type: 'string', pattern: '^[A-Za-z]{3,10}$' },
              url: { type: 'string', minLength: 1, maxLength: 8192 },
              headers: HEADERS,
              body: {},
              assumeInstance: { enum: ['match', 'no-match', 'unavailable'] },
            },
          },
          expect: {
            type: 'object',
            additionalProperties: false,
            required: ['decision'],
            properties: {
              decision: { enum: ['allow', 'deny'] },
              status: { type: 'integer', minimum: 100, maximum: 599 },
              reason: { enum: REASON_NAMES },
              phase: { enum: ['ingest', 'classify', 'authenticate', 'authorize', 'limit', 'respond'] },
              rule: { type: 'string', maxLength: 500 },
              rewrites: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  set: { type: 'object', additionalProperties: { type: 'string' } },
                  remove: { type: 'array', items: { type: 'string' } },
                },
              },
              obligations: {
                oneOf: [
                  { type: 'integer', minimum: 0, maximum: 64 },
                  {
                    type: 'array',
                    maxItems: 64,
                    items: {
                      type: 'object',
                      additionalProperties: false,
                      required: ['kind'],
                      properties: { kind: { type: 'string' }, detail: { type: 'object', additionalProperties: { type: 'string' } } },
                    },
                  },
                ],
              },
              patients: { type: 'array', maxItems: 256, items: { type: 'string' } },
              breakGlass: { type: 'boolean' },
            },
          },
        },
      },
    },
  },
} as const;

let validator: ReturnType<Ajv2020['compile']> | undefined;

function schemaErrors(doc: unknown): string[] {
  validator ??= new Ajv2020({ allErrors: true, strict: true }).compile(testFileSchema);
  if (validator(doc)) return [];
  return (validator.errors ?? []).slice(0, 20).map((e: ErrorObject) => {
    const at = e.instancePath === '' ? '/' : e.instancePath;
    if (e.keyword === 'additionalProperties') return `${at}: unknown field "${String((e.params as { additionalProperty: string }).additionalProperty)}"`;
    if (e.keyword === 'enum') {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      return `${at}: must be one of ${allowed.length > 8 ? 'the reason codes in src/core/reasons.ts' : allowed.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    return `${at}: ${e.message ?? 'invalid'}`;
  });
}

/** Reads and validates one test file; throws UsageError naming the file and the fields. */
export function readTestFile(file: string): TestFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [docs];
  if (list.length !== 1) throw new UsageError(`${file}: a test file holds exactly one YAML document`);
  const doc = list[0]!;
  if (doc.errors.length > 0) throw new UsageError(`${file}: YAML: ${doc.errors[0]?.message.split('\n')[0] ?? 'invalid'}`);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 50 });
  } catch (err) {
    throw new UsageError(`${file}: YAML: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : 'invalid'}`);
  }
  const errors = schemaErrors(value);
  if (errors.length > 0) throw new UsageError(`${file}:\n  ${errors.join('\n  ')}`);
  return value as TestFile;
}

// ── running ────────────────────────────────────────────────────────────────────────────────────

export interface CaseResult {
  readonly file: string;
  readonly name: string;
  readonly status: 'pass' | 'fail' | 'skip';
  /** Mismatches, `field: expected X, got Y`. */
  readonly problems: readonly string[];
  readonly got: Evaluation | undefined;
  readonly skipReason?: string;
}

const show = (v: unknown): string => JSON.stringify(v);

/** Differences between what a case expects and what the pipeline answered. */
export function compare(expect: TestExpect, got: Evaluation): string[] {
  const out: string[] = [];
  const check = (field: string, want: unknown, have: unknown): void => {
    if (want !== undefined && show(want) !== show(have)) out.push(`${field}: expected ${show(want)}, got ${show(have)}`);
  };
  check('decision', expect.decision, got.decision);
  check('status', expect.status, got.status);
  check('reason', expect.reason, got.reason);
  check('phase', expect.phase, got.phase);
  if (expect.rule !== undefined && !got.rule.startsWith(expect.rule)) out.push(`rule: expected prefix ${show(expect.rule)}, got ${show(got.rule)}`);
  if (expect.rewrites?.set !== undefined) check('rewrites.set', sortKeys(expect.rewrites.set), sortKeys(got.rewrites.set));
  check('rewrites.remove', expect.rewrites?.remove, got.rewrites.remove);
  if (typeof expect.obligations === 'number') check('obligations', expect.obligations, got.obligations.length);
  else if (expect.obligations !== undefined) {
    check('obligations', expect.obligations.map((o) => ({ kind: o.kind, detail: sortKeys(o.detail ?? {}) })), got.obligations.map((o) => ({ kind: o.kind, detail: sortKeys(o.detail) })));
  }
  check('patients', expect.patients, got.patients);
  check('breakGlass', expect.breakGlass, got.breakGlass);
  // Guard against a test that expects a deny and gets one for an unrelated reason.
  if (expect.decision === 'deny' && expect.reason === undefined && got.decision === 'deny') {
    out.push(`reason: a deny expectation must name its reason (got ${show(got.reason)})`);
  }
  return out;
}

function sortKeys(o: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function headerLines(...maps: Array<Readonly<Record<string, HeaderValues>> | undefined>): Array<[string, string]> {
  const merged = new Map<string, HeaderValues>();
  for (const m of maps) for (const [k, v] of Object.entries(m ?? {})) merged.set(k.toLowerCase(), v);
  const out: Array<[string, string]> = [];
  for (const [k, v] of merged) for (const one of typeof v === 'string' ? [v] : v) out.push([k, one]);
  return out;
}

/** Claims of a case: defaults, overridden key by key; a key set to null in the case is removed. */
export function caseClaims(defaults: TestFile['defaults'], c: TestCase): Record<string, unknown> | undefined {
  if (c.claims === null) return undefined;
  if (c.claims === undefined && defaults?.claims === undefined) return undefined;
  const merged: Record<string, unknown> = { ...defaults?.claims, ...c.claims };
  for (const [k, v] of Object.entries(merged)) if (v === null) delete merged[k];
  return merged;
}

function bodyBytes(body: unknown): Uint8Array | undefined {
  if (body === undefined) return undefined;
  return new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body));
}

/** Runs every case of one (validated) test file. Throws UsageError when its policy is unusable. */
export async function runTestFile(file: string, spec: TestFile, clock: Clock): Promise<CaseResult[]> {
  const dir = path.dirname(file);
  const policyFiles = (typeof spec.policy === 'string' ? [spec.policy] : spec.policy).map((p) => path.resolve(dir, p));
  let sources: PolicySource[];
  try {
    sources = loadPolicies(policyFiles);
  } catch (err) {
    throw err instanceof UsageError ? new UsageError(`${file}: ${err.message}`) : err;
  }
  const results: CaseResult[] = [];
  for (const c of spec.tests) {
    if (c.skip !== undefined) {
      results.push({ file, name: c.name, status: 'skip', problems: [], got: undefined, skipReason: c.skip });
      continue;
    }
    let policy: PolicySource;
    try {
      policy = selectPolicy(sources, pathOf(c.request.url));
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      results.push({ file, name: c.name, status: 'fail', problems: [err.message], got: undefined });
      continue;
    }
    const claims = caseClaims(spec.defaults, c);
    const credential = await setUpCredential(claims === undefined ? { kind: 'none' } : { kind: 'claims', claims }, { auth: undefined, clock });
    const got = await evaluate({
      policy,
      credential,
      request: { method: c.request.method, url: c.request.url, headers: headerLines(spec.defaults?.headers, c.request.headers), body: bodyBytes(c.request.body) },
      ...(c.request.assumeInstance !== undefined ? { assumeInstance: c.request.assumeInstance } : {}),
    });
    const problems = compare(c.expect, got);
    results.push({ file, name: c.name, status: problems.length === 0 ? 'pass' : 'fail', problems, got });
  }
  return results;
}

/** Test files named by the arguments: files as given, directories searched for *.yaml / *.yml. */
export function collectTestFiles(args: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 32) throw new UsageError(`${dir}: directories nested too deeply`);
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p, depth + 1);
      else if (entry.isFile() && /\.ya?ml$/.test(entry.name)) out.push(p);
    }
  };
  for (const a of args) {
    let st;
    try {
      st = statSync(a);
    } catch {
      throw new UsageError(`${a}: no such file or directory`);
    }
    if (st.isDirectory()) walk(a, 0);
    else out.push(a);
  }
  if (out.length === 0) throw new UsageError('no test files found');
  return out;
}

/** The clock policy tests run with: fixed, so claim sets without `exp` behave the same every day. */
export const TEST_CLOCK_START = Date.UTC(2026, 0, 1);

/** `fhirgate test …` → exit code. */
export async function runTest(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let files: string[];
  let verbose: boolean;
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: { verbose: { type: 'boolean', short: 'v', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    });
    if (values.help) {
      io.out(TEST_USAGE);
      return 0;
    }
    verbose = values.verbose;
    if (positionals.length === 0) throw new UsageError('expected at least one DIR or FILE');
    files = collectTestFiles(positionals);
  } catch (err) {
    io.err(`fhirgate test: ${(err as Error).message}\n(run "fhirgate test --help" for usage)\n`);
    return 2;
  }
  const clock = new ManualClock(TEST_CLOCK_START);
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  let badFiles = 0;
  for (const file of files) {
    let results: CaseResult[];
    try {
      results = await runTestFile(file, readTestFile(file), clock);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      io.err(`ERROR ${err.message}\n`);
      badFiles++;
      continue;
    }
    for (const r of results) {
      if (r.status === 'pass') {
        passed++;
        io.out(`PASS ${file}: ${r.name}${verbose && r.got !== undefined ? `  (${r.got.reason}, ${r.got.rule || 'default deny'})` : ''}\n`);
      } else if (r.status === 'skip') {
        skipped++;
        io.out(`SKIP ${file}: ${r.name} — ${r.skipReason ?? ''}\n`);
      } else {
        failed++;
        io.out(`FAIL ${file}: ${r.name}\n${r.problems.map((p) => `    ${p}\n`).join('')}`);
      }
    }
  }
  io.out(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}${badFiles > 0 ? `, ${badFiles} invalid test file${badFiles === 1 ? '' : 's'}` : ''}\n`);
  if (badFiles > 0) return 2;
  return failed > 0 ? 1 : 0;
}
