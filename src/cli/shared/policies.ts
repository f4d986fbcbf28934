/**
 * Loading the policy files given to `explain` and `test`, and choosing the one document that
 * applies to a request. Uses the sidecar's loader and compiler (src/policy/load.ts): a file the
 * controller would reject is rejected here too, with the same field paths.
 */
import type { CompiledPolicy, CompileIssue } from '../../policy/compile.ts';
import { loadPolicyFile } from '../../policy/load.ts';
import { UsageError } from './errors.ts';

export interface PolicySource {
  readonly file: string;
  /** 0-based YAML document index within the file. */
  readonly index: number;
  readonly policy: CompiledPolicy;
  readonly warnings: readonly CompileIssue[];
}

/** `file:index: /pointer: message` — the one format every command prints issues in. */
export function formatIssue(file: string, index: number, issue: CompileIssue, severity: 'error' | 'warning' = 'error'): string {
  return `${file}:${index}: ${issue.path}: ${severity === 'warning' ? 'warning: ' : ''}${issue.message}`;
}

/** Every FhirAccessPolicy document of the files; throws UsageError listing every problem. */
export function loadPolicies(files: readonly string[]): PolicySource[] {
  if (files.length === 0) throw new UsageError('at least one policy file is required');
  const out: PolicySource[] = [];
  const problems: string[] = [];
  for (const file of files) {
    let docs: ReturnType<typeof loadPolicyFile>;
    try {
      docs = loadPolicyFile(file);
    } catch (err) {
      // A few YAML parser limits (alias expansion) throw instead of reporting an issue.
      problems.push(`${file}: YAML: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : 'unreadable'}`);
      continue;
    }
    if (docs.length === 0) problems.push(`${file}: no FhirAccessPolicy document found`);
    for (const d of docs) {
      if (d.result.ok) out.push({ file, index: d.index, policy: d.result.policy, warnings: d.result.warnings });
      else for (const e of d.result.errors) problems.push(formatIssue(file, d.index, e));
    }
  }
  if (problems.length > 0) throw new UsageError(`policy errors:\n  ${problems.join('\n  ')}`);
  return out;
}

/** True when `path` lies under `base` ('' is the root and holds every path). */
function under(base: string, path: string): boolean {
  return base === '' || path === base || path.startsWith(`${base}/`);
}

/**
 * The document whose `fhirBasePath` is the longest prefix of `path`: the deepest base wins
 * (`/fhir/r4` over `/fhir`), two documents with the same base are ambiguous, none is an error.
 */
export function selectPolicy(sources: readonly PolicySource[], path: string): PolicySource {
  const matching = sources.filter((s) => under(s.policy.basePath, path));
  if (matching.length === 0) {
    const bases = [...new Set(sources.map((s) => s.policy.basePath || '/'))].join(', ');
    throw new UsageError(`no policy applies to ${JSON.stringify(path.slice(0, 200))} (fhirBasePath of the policies: ${bases})`);
  }
  const longest = Math.max(...matching.map((s) => s.policy.basePath.length));
  const best = matching.filter((s) => s.policy.basePath.length === longest);
  if (best.length > 1) {
    const names = best.map((s) => `${s.file}:${s.index} (${s.policy.name})`).join(', ');
    throw new UsageError(`several policies apply to ${JSON.stringify(path.slice(0, 200))} with the same fhirBasePath: ${names}`);
  }
  return best[0] as PolicySource;
}
