/**
 * Reading FhirAccessPolicy documents from YAML/JSON files (one or several documents per file,
 * as `kubectl apply -f` accepts) and compiling them. Used by the sidecar, `fhirgate lint`,
 * `fhirgate explain` and `fhirgate test` — one loader, one compiler.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { compilePolicy } from './compile.ts';
import type { CompiledPolicy, CompileIssue } from './compile.ts';
import { POLICY_KIND } from './spec.ts';

export interface LoadedPolicy {
  readonly file: string;
  /** 0-based index of the YAML document in the file. */
  readonly index: number;
  readonly result: { ok: true; policy: CompiledPolicy; warnings: readonly CompileIssue[] } | { ok: false; errors: readonly CompileIssue[] };
}

const MAX_FILE_BYTES = 4 * 1024 * 1024;

/** Parse every YAML document of a text; documents of other kinds are skipped. */
export function loadPolicyText(text: string, file: string): LoadedPolicy[] {
  const out: LoadedPolicy[] = [];
  const docs = parseAllDocuments(text, { uniqueKeys: true, maxAliasCount: 50 } as never);
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      out.push({ file, index, result: { ok: false, errors: doc.errors.slice(0, 5).map((e) => ({ path: '/', message: `YAML: ${e.message.split('\n')[0] ?? ''}` })) } });
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 50 });
    } catch (err) {
      // e.g. an alias bomb: refused as an error, never thrown at the caller.
      out.push({ file, index, result: { ok: false, errors: [{ path: '/', message: `YAML: ${(err as Error).message.split('\n')[0] ?? 'invalid'}` }] } });
      return;
    }
    if (value === null || value === undefined) return;
    if (typeof value === 'object' && !Array.isArray(value) && (value as { kind?: unknown }).kind !== POLICY_KIND) return;
    out.push({ file, index, result: compilePolicy(value) });
  });
  return out;
}

export function loadPolicyFile(file: string): LoadedPolicy[] {
  let text: string;
  try {
    const buf = readFileSync(file);
    if (buf.byteLength > MAX_FILE_BYTES) return [{ file, index: 0, result: { ok: false, errors: [{ path: '/', message: 'file is larger than 4 MiB' }] } }];
    text = buf.toString('utf8');
  } catch (err) {
    return [{ file, index: 0, result: { ok: false, errors: [{ path: '/', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? 'error'}` }] } }];
  }
  return loadPolicyText(text, file);
}
