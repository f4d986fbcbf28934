/**
 * The controller's book of bundles: for each namespace, the latest full bundle built from the
 * desired state, with a version number and the content hash, plus a short history so an ACK for a
 * bundle that was superseded a moment ago can still be attributed (policy status counts it).
 *
 * Versions are one counter across all namespaces, seeded from the clock so that a restarted
 * controller (or a new leader) keeps counting upwards in practice. Sidecars compare hashes, not
 * versions, to decide whether anything changed: two replicas may number the same content
 * differently, and that is harmless.
 */
import type { Clock } from '../../core/clock.ts';
import { systemClock } from '../../core/clock.ts';
import { compilePolicy } from '../../policy/compile.ts';
import type { BundleContent } from '../desired-state.ts';
import { canonicalJson, contentHash } from '../desired-state.ts';
import type { Bundle } from './wire.ts';

/** What the bundle server needs from DesiredState (structural, so tests can pass fakes). */
export interface DesiredStateView {
  content(namespace: string): BundleContent;
  onChange(listener: (namespace: string) => void): () => void;
}

export interface BuiltBundle {
  readonly namespace: string;
  readonly bundle: Bundle;
  /** policy metadata.name → compiled policy hash (CompiledPolicy.hash), for enforcedBy. */
  readonly policies: ReadonlyMap<string, string>;
}

const HISTORY = 8;

/**
 * Compiled hash per policy document object. DesiredState hands out the same object until that
 * policy changes, so a namespace rebuild compiles only what changed (not every policy again).
 */
const compiledHash = new WeakMap<object, string | null>();

export function compiledPolicyHash(doc: BundleContent['policies'][number]): string | null {
  let h = compiledHash.get(doc);
  if (h === undefined) {
    const r = compilePolicy(doc);
    h = r.ok ? r.policy.hash : null;
    compiledHash.set(doc, h);
  }
  return h;
}

/** metadata.name → CompiledPolicy.hash; a policy that does not compile is left out (never counted). */
export function policyHashes(content: BundleContent): Map<string, string> {
  const out = new Map<string, string>();
  for (const doc of content.policies) {
    const h = compiledPolicyHash(doc);
    if (h !== null) out.set(doc.metadata.name, h);
  }
  return out;
}

export class BundleBook {
  readonly #desired: DesiredStateView;
  readonly #clock: Clock;
  readonly #latest = new Map<string, BuiltBundle>();
  readonly #history = new Map<string, BuiltBundle[]>();
  #version: number;

  constructor(desired: DesiredStateView, clock: Clock = systemClock) {
    this.#desired = desired;
    this.#clock = clock;
    this.#version = clock.now();
  }

  /** The latest bundle for a namespace, building it on first use. */
  current(namespace: string): BuiltBundle {
    return this.#latest.get(namespace) ?? this.rebuild(namespace).built;
  }

  /**
   * Rebuilds from the desired state. The version moves only when the content hash changes, so a
   * no-op change does not make every sidecar re-apply.
   */
  rebuild(namespace: string): { built: BuiltBundle; changed: boolean } {
    const content = this.#desired.content(namespace);
    const bytes = Buffer.from(canonicalJson(content), 'utf8');
    const hash = contentHash(bytes);
    const prev = this.#latest.get(namespace);
    if (prev !== undefined && prev.bundle.hash === hash) return { built: prev, changed: false };
    this.#version = Math.max(this.#version + 1, this.#clock.now());
    const built: BuiltBundle = {
      namespace,
      bundle: { version: String(this.#version), hash, content: bytes, created_unix_ms: this.#clock.now() },
      policies: policyHashes(content),
    };
    this.#latest.set(namespace, built);
    const h = this.#history.get(namespace) ?? [];
    h.push(built);
    if (h.length > HISTORY) h.shift();
    this.#history.set(namespace, h);
    return { built, changed: true };
  }

  /** A recent bundle of this namespace by content hash (latest first), or undefined. */
  byHash(namespace: string, hash: string): BuiltBundle | undefined {
    const h = this.#history.get(namespace) ?? [];
    for (let i = h.length - 1; i >= 0; i--) if (h[i]!.bundle.hash === hash) return h[i];
    return undefined;
  }

  namespaces(): string[] {
    return [...this.#latest.keys()].sort();
  }
}
