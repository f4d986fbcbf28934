/**
 * `fhirgate lint`: validates FhirAccessPolicy files offline with the sidecar's own loader and
 * compiler — the JSON Schema (the CRD's schema) and the semantic checks the schema cannot
 * express (resource types, scope grammar, duplicates). One line per issue:
 *
 *   file:docIndex: /json/pointer: message
 *   file:docIndex: /json/pointer: warning: message
 *
 * Exit status: 1 when any file has an error, 0 otherwise (warnings do not fail), 2 on usage errors.
 */
import { parseArgs } from 'node:util';
import type { CompileIssue } from '../policy/compile.ts';
import { loadPolicyFile } from '../policy/load.ts';
import { processIo } from './shared/io.ts';
import type { CliIo } from './shared/io.ts';
import { formatIssue } from './shared/policies.ts';

export const LINT_USAGE = `usage: fhirgate lint [--json] FILE…

Validates FhirAccessPolicy YAML/JSON files (every document of each file) against the policy
schema and the compiler's semantic checks, without a cluster. Documents of other kinds are skipped.

options:
  --json        print one JSON object ({ files: [...], errors, warnings })
  -h, --help    show this help

Exit status: 0 no errors (warnings allowed), 1 errors found, 2 usage error.
`;

export interface LintDocument {
  readonly index: number;
  /** metadata.name (namespace/name) when the document compiled. */
  readonly name: string | undefined;
  readonly errors: readonly CompileIssue[];
  readonly warnings: readonly CompileIssue[];
}

export interface LintFile {
  readonly file: string;
  readonly documents: readonly LintDocument[];
  /** Problems of the file itself (e.g. it holds no FhirAccessPolicy). */
  readonly errors: readonly string[];
}

/** Lints one file. Never throws: unreadable files and YAML errors are reported as errors. */
export function lintFile(file: string): LintFile {
  let docs: ReturnType<typeof loadPolicyFile>;
  try {
    docs = loadPolicyFile(file);
  } catch (err) {
    // The loader reports bad YAML as issues, but a few parser limits (alias expansion) throw.
    return { file, documents: [], errors: [`YAML: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : 'unreadable'}`] };
  }
  const documents = docs.map((d) =>
    d.result.ok
      ? { index: d.index, name: d.result.policy.name, errors: [], warnings: d.result.warnings }
      : { index: d.index, name: undefined, errors: d.result.errors, warnings: [] },
  );
  return { file, documents, errors: docs.length === 0 ? ['no FhirAccessPolicy document found'] : [] };
}

export function lintLines(r: LintFile): string[] {
  const lines = r.errors.map((e) => `${r.file}: ${e}`);
  for (const d of r.documents) {
    for (const e of d.errors) lines.push(formatIssue(r.file, d.index, e));
    for (const w of d.warnings) lines.push(formatIssue(r.file, d.index, w, 'warning'));
  }
  return lines;
}

const errorCount = (r: LintFile): number => r.errors.length + r.documents.reduce((n, d) => n + d.errors.length, 0);
const warningCount = (r: LintFile): number => r.documents.reduce((n, d) => n + d.warnings.length, 0);

/** `fhirgate lint …` → exit code. */
export async function runLint(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let files: string[];
  let json: boolean;
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    });
    if (values.help) {
      io.out(LINT_USAGE);
      return 0;
    }
    if (positionals.length === 0) throw new TypeError('expected at least one FILE');
    files = positionals;
    json = values.json;
  } catch (err) {
    io.err(`fhirgate lint: ${(err as Error).message}\n(run "fhirgate lint --help" for usage)\n`);
    return 2;
  }
  const results = files.map(lintFile);
  const errors = results.reduce((n, r) => n + errorCount(r), 0);
  const warnings = results.reduce((n, r) => n + warningCount(r), 0);
  if (json) {
    io.out(`${JSON.stringify({ files: results, errors, warnings }, null, 2)}\n`);
  } else {
    for (const r of results) for (const line of lintLines(r)) io.out(`${line}\n`);
    const docs = results.reduce((n, r) => n + r.documents.length, 0);
    io.out(`${files.length} file${files.length === 1 ? '' : 's'}, ${docs} polic${docs === 1 ? 'y' : 'ies'}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`);
  }
  return errors > 0 ? 1 : 0;
}
