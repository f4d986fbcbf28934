/**
 * The controller's index of ACCEPTED resources — what reconcilers write and what the bundle server
 * reads. Reconcilers store the last spec that compiled (a rejected update leaves the previous
 * accepted spec in place: last-known-good); a deleted resource is removed (a deleted policy means
 * its workloads get a bundle without it, and deny). The request path never sees this: sidecars get
 * its content as bundles.
 *
 * Namespaced like the resources: a sidecar in namespace N receives N's policies, issuers,
 * clients and revocations only.
 */
import { createHash } from 'node:crypto';
import type { FhirAccessPolicyDocument } from '../policy/spec.ts';
import type { IssuerConfig, Revocations } from '../token/config.ts';

/** What a sidecar receives for its namespace: the bundle content (canonical JSON). */
export interface BundleContent {
  /** Policy documents, sorted by name. Each sidecar enforces the one whose fhirBasePath it guards. */
  readonly policies: readonly FhirAccessPolicyDocument[];
  /** Issuers in the token layer's file-config shape (secret refs resolved to mounted files). */
  readonly issuers: readonly IssuerConfig[];
  /** Client ceilings and bindings, keyed by client id. */
  readonly clients: ReadonlyArray<{ readonly clientId: string; readonly scopeCeiling: readonly string[]; readonly requireCertificateBinding: boolean; readonly certificateThumbprints: readonly string[]; readonly quarantined: boolean }>;
  /** Union of every TokenRevocation in the namespace. */
  readonly revocations: Required<{ readonly [K in keyof Revocations]-?: NonNullable<Revocations[K]> }>;
}

export type Kind = 'FhirAccessPolicy' | 'TrustedIssuer' | 'SmartClient' | 'TokenRevocation';

interface Entry {
  readonly kind: Kind;
  readonly namespace: string;
  readonly name: string;
  /** The accepted, bundle-ready value for this resource. */
  readonly value: unknown;
}

type Listener = (namespace: string) => void;

/** Canonical JSON: object keys sorted, no whitespace — equal content ⇒ equal bytes ⇒ equal hash. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

export function contentHash(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class DesiredState {
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<Listener>();

  static key(kind: Kind, namespace: string, name: string): string {
    return `${kind}/${namespace}/${name}`;
  }

  /** Store (or, with `undefined`, remove) the accepted value of one resource; notifies on change. */
  set(kind: Kind, namespace: string, name: string, value: unknown): void {
    const key = DesiredState.key(kind, namespace, name);
    const before = this.#entries.get(key);
    if (value === undefined) {
      if (before === undefined) return;
      this.#entries.delete(key);
    } else {
      if (before !== undefined && canonicalJson(before.value) === canonicalJson(value)) return;
      this.#entries.set(key, { kind, namespace, name, value });
    }
    for (const l of this.#listeners) l(namespace);
  }

  get(kind: Kind, namespace: string, name: string): unknown {
    return this.#entries.get(DesiredState.key(kind, namespace, name))?.value;
  }

  namespaces(): string[] {
    return [...new Set([...this.#entries.values()].map((e) => e.namespace))].sort();
  }

  /** Listen for changes; returns an unsubscribe function. */
  onChange(l: Listener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /** The bundle content for one namespace. */
  content(namespace: string): BundleContent {
    const of = (kind: Kind): Entry[] =>
      [...this.#entries.values()].filter((e) => e.kind === kind && e.namespace === namespace).sort((a, b) => a.name.localeCompare(b.name));
    const jtis = new Set<string>();
    const subjects = new Map<string, { issuer: string; subject: string }>();
    const clients = new Set<string>();
    for (const e of of('TokenRevocation')) {
      const r = e.value as Revocations;
      for (const j of r.jtis ?? []) jtis.add(j);
      for (const s of r.subjects ?? []) subjects.set(`${s.issuer}\0${s.subject}`, s);
      for (const c of r.clients ?? []) clients.add(c);
    }
    return {
      policies: of('FhirAccessPolicy').map((e) => e.value as FhirAccessPolicyDocument),
      issuers: of('TrustedIssuer').map((e) => e.value as IssuerConfig),
      clients: of('SmartClient').map((e) => e.value as BundleContent['clients'][number]),
      revocations: { jtis: [...jtis].sort(), subjects: [...subjects.values()], clients: [...clients].sort() },
    };
  }
}
