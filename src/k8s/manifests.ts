/**
 * The generated files under manifests/crds/: one YAML file per CRD, rendered deterministically
 * (same input, same bytes) so that a stale committed file is a plain byte difference. Used by
 * scripts/gen-manifests.ts (write, --check) and by the unit test that runs the check.
 */
import { readdirSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { buildCrd } from './crd.ts';
import type { CustomResourceDefinition } from './crd.ts';
import { KINDS } from './kinds/index.ts';

const HEADER = '# GENERATED FILE — do not edit. Source: src/k8s/; regenerate with `node scripts/gen-manifests.ts`.\n';

export function allCrds(): CustomResourceDefinition[] {
  return KINDS.map(buildCrd);
}

/** File name (e.g. `fhiraccesspolicies.fhirgate.io.yaml`) → YAML text, for every CRD. */
export function renderCrdFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const crd of allCrds()) {
    files.set(`${crd.metadata.name}.yaml`, HEADER + stringify(crd, { lineWidth: 0, aliasDuplicateObjects: false }));
  }
  return files;
}

export interface ManifestDrift {
  /** Generated files whose committed text differs or that are missing. */
  readonly stale: readonly string[];
  /** YAML files in the directory that the generator does not produce (left over from a rename). */
  readonly extra: readonly string[];
}

function yamlFilesIn(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Compares the directory with what the generator renders now. */
export function manifestDrift(dir: string, files = renderCrdFiles()): ManifestDrift {
  const stale: string[] = [];
  for (const [name, text] of files) {
    let current: string | undefined;
    try {
      current = readFileSync(join(dir, name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (current !== text) stale.push(name);
  }
  const extra = yamlFilesIn(dir).filter((f) => !files.has(f));
  return { stale, extra };
}

/** Writes every generated file and removes generated-directory leftovers; returns what changed. */
export function writeCrdFiles(dir: string): ManifestDrift {
  const files = renderCrdFiles();
  const drift = manifestDrift(dir, files);
  mkdirSync(dir, { recursive: true });
  for (const name of drift.stale) writeFileSync(join(dir, name), files.get(name) ?? '');
  for (const name of drift.extra) rmSync(join(dir, name));
  return drift;
}
