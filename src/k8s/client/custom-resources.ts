/**
 * Typed access to fhirgate's custom resources over @kubernetes/client-node: list (paged) and watch
 * across all namespaces for the informers, and status merge-patches for the status writer.
 * Thin on purpose: retry, backoff and caching belong to the controller, not here.
 */
import { CustomObjectsApi, PatchStrategy, Watch, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../crd.ts';
import { KINDS } from '../kinds/index.ts';

/** Page size of a list: bounds the memory of one response, not the total. */
const PAGE = 500;
/** At most this many pages (500 000 objects); a larger list is a bug or an attack. */
const MAX_PAGES = 1000;

export function pluralOf(kind: string): string {
  const def = KINDS.find((k) => k.kind === kind);
  if (def === undefined) throw new TypeError(`not a fhirgate kind: ${kind}`);
  return def.plural;
}

export interface ListPage<T> {
  readonly items: readonly T[];
  readonly resourceVersion: string;
}

export interface WatchEventLike {
  readonly type: string;
  readonly object: unknown;
}

export interface WatchStopper {
  stop(): void;
}

interface RawList {
  items?: unknown[];
  metadata?: { resourceVersion?: string; continue?: string };
}

export interface CustomResourceClientOptions {
  /**
   * Server-side timeout of one watch request, in seconds. Below the client library's 30 s idle
   * timeout, so a quiet watch ends cleanly (and is resumed from its resourceVersion) instead of
   * being aborted as an error.
   */
  readonly watchTimeoutSeconds?: number;
}

export class CustomResourceClient {
  readonly #api: CustomObjectsApi;
  readonly #watch: Watch;
  readonly #watchTimeoutSeconds: number;

  constructor(kc: KubeConfig, opts: CustomResourceClientOptions = {}) {
    this.#api = kc.makeApiClient(CustomObjectsApi);
    this.#watch = new Watch(kc);
    this.#watchTimeoutSeconds = opts.watchTimeoutSeconds ?? 25;
  }

  /** Every object of `kind` in every namespace, with the list's resourceVersion. */
  async list<T>(kind: string): Promise<ListPage<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const res = (await this.#api.listCustomObjectForAllNamespaces({
        group: GROUP,
        version: VERSION,
        resourcePlural: pluralOf(kind),
        limit: PAGE,
        ...(cont !== undefined ? { _continue: cont } : {}),
      })) as RawList;
      for (const item of res.items ?? []) items.push(item as T);
      cont = res.metadata?.continue;
      if (cont === undefined || cont === '') return { items, resourceVersion: res.metadata?.resourceVersion ?? '' };
    }
    throw new Error(`list of ${kind} exceeded ${MAX_PAGES} pages`);
  }

  /** Watches `kind` in every namespace from `resourceVersion` (with bookmarks). */
  async watch(
    kind: string,
    resourceVersion: string,
    onEvent: (e: WatchEventLike) => void,
    onDone: (err: unknown) => void,
  ): Promise<WatchStopper> {
    const controller = await this.#watch.watch(
      `/apis/${GROUP}/${VERSION}/${pluralOf(kind)}`,
      { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: this.#watchTimeoutSeconds },
      (type: string, object: unknown) => onEvent({ type, object }),
      onDone,
    );
    return { stop: () => controller.abort() };
  }

  /** JSON merge patch of the status subresource: only the fields in `status` change. */
  async patchStatus(kind: string, namespace: string, name: string, status: Readonly<Record<string, unknown>>): Promise<void> {
    await this.#api.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, namespace, plural: pluralOf(kind), name, body: { status }, fieldManager: 'fhirgate-controller' },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
}
