/**
 * The reconcile step every kind shares. A kind supplies a pure `evaluate` (is this spec accepted,
 * and what goes into the desired state?) and optionally a `claim` (what in a namespace it must
 * own alone); this file does the rest the same way for every kind:
 *
 * - accepted → `desired.set(kind, ns, name, value)`; rejected → `desired` keeps the last accepted
 *   value (last-known-good) and a Warning Event is recorded; deleted → removed from `desired`;
 * - two objects claiming the same thing (two TrustedIssuers for one `iss`, two SmartClients for
 *   one client id, two policies for one base path): the oldest wins, the others are rejected with
 *   reason `Conflict` and taken out of `desired` (a bundle must never hold both);
 * - status: `observedGeneration`, `Accepted` and `Ready` conditions, the kind's own fields,
 *   written through the StatusWriter (leader only, skipped when unchanged).
 */
import type { Condition } from '../k8s/types.ts';
import { CONDITION, mergeConditions } from './conditions.ts';
import type { ConditionInput } from './conditions.ts';
import type { DesiredState, Kind } from './desired-state.ts';
import type { KubeObject } from './informer.ts';
import type { ReadyFor } from './readiness.ts';
import type { StatusWriter } from './status-writer.ts';

/** A custom resource as the informer caches it. */
export interface CachedObject extends KubeObject {
  readonly spec?: unknown;
  readonly status?: { readonly conditions?: readonly Condition[]; readonly [k: string]: unknown };
}

export type Verdict =
  | {
      readonly accepted: true;
      /** What goes into `desired`; undefined = accepted but not in effect (e.g. an expired revocation). */
      readonly value: unknown;
      /** Why an accepted object is not in effect (only with `value: undefined`). */
      readonly notInEffect?: { readonly reason: string; readonly message: string };
      /** Kind-specific status fields (e.g. `policyHash`). */
      readonly status?: Readonly<Record<string, unknown>>;
      /** Reconcile again after this many ms (e.g. at an expiry). */
      readonly requeueAfterMs?: number;
    }
  | { readonly accepted: false; readonly reason: string; readonly message: string };

export interface KindReconciler<T extends CachedObject = CachedObject> {
  readonly kind: Kind;
  /** Event reason for a rejection, e.g. `PolicyRejected`. */
  readonly rejectedEvent: string;
  /** Decides from the object alone. Pure; must not throw on hostile input. */
  evaluate(obj: T, nowMs: number): Verdict;
  /** What the object owns within its namespace (compared as a string), if anything. */
  claim?(obj: T): string | undefined;
  /** Human name of the claimed field, for the conflict message (e.g. `spec.issuer`). */
  readonly claimField?: string;
}

export interface ReconcileContext {
  readonly desired: DesiredState;
  readonly statusWriter: StatusWriter;
  readonly readyFor: ReadyFor;
  /** The informer cache of the kind being reconciled. */
  get(namespace: string, name: string): CachedObject | undefined;
  list(): readonly CachedObject[];
  now(): number;
}

export interface ReconcileOutcome {
  readonly result: 'accepted' | 'rejected' | 'deleted';
  /** Reconcile again after this many ms. */
  readonly requeueAfterMs?: number;
}

const creation = (o: CachedObject): number => {
  const t = o.metadata?.creationTimestamp;
  const ms = t === undefined ? NaN : new Date(t).getTime();
  return Number.isFinite(ms) ? ms : Number.MAX_SAFE_INTEGER;
};

/** Oldest first; the name breaks ties so every replica picks the same winner. */
function olderThan(a: CachedObject, b: CachedObject): boolean {
  const ca = creation(a);
  const cb = creation(b);
  if (ca !== cb) return ca < cb;
  return (a.metadata?.name ?? '') < (b.metadata?.name ?? '');
}

/** Never throws for hostile specs: an evaluate() bug becomes a rejection, not an allow or a crash. */
function safeEvaluate<T extends CachedObject>(def: KindReconciler<T>, obj: T, now: number): Verdict {
  try {
    return def.evaluate(obj, now);
  } catch (err) {
    return { accepted: false, reason: 'InternalError', message: `the controller could not evaluate this object: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function conflictWith<T extends CachedObject>(def: KindReconciler<T>, obj: T, ctx: ReconcileContext): CachedObject | undefined {
  if (def.claim === undefined) return undefined;
  const mine = def.claim(obj);
  if (mine === undefined) return undefined;
  const ns = obj.metadata?.namespace;
  let winner: CachedObject | undefined;
  for (const other of ctx.list()) {
    if (other === obj || other.metadata?.namespace !== ns || other.metadata?.name === obj.metadata?.name) continue;
    if (other.metadata?.deletionTimestamp !== undefined) continue;
    let theirs: string | undefined;
    try {
      theirs = def.claim(other as T);
    } catch {
      continue;
    }
    if (theirs !== mine || !olderThan(other, obj)) continue;
    if (winner === undefined || olderThan(other, winner)) winner = other;
  }
  return winner;
}

export async function reconcileObject<T extends CachedObject>(
  def: KindReconciler<T>,
  ctx: ReconcileContext,
  namespace: string,
  name: string,
): Promise<ReconcileOutcome> {
  const obj = ctx.get(namespace, name) as T | undefined;
  if (obj === undefined || obj.metadata?.deletionTimestamp !== undefined) {
    ctx.desired.set(def.kind, namespace, name, undefined);
    return { result: 'deleted' };
  }
  const now = ctx.now();
  let verdict = safeEvaluate(def, obj, now);
  if (verdict.accepted) {
    const winner = conflictWith(def, obj, ctx);
    if (winner !== undefined) {
      verdict = {
        accepted: false,
        reason: 'Conflict',
        message: `${def.claimField ?? 'spec'} is already declared by ${def.kind} ${namespace}/${winner.metadata?.name ?? '?'}, which is older; only one may be in effect`,
      };
      ctx.desired.set(def.kind, namespace, name, undefined);
    }
  }

  const generation = obj.metadata?.generation;
  const conditions: ConditionInput[] = [];
  let readinessStatus: Readonly<Record<string, unknown>> | undefined;
  if (verdict.accepted) {
    ctx.desired.set(def.kind, namespace, name, verdict.value);
    conditions.push({ type: CONDITION.accepted, status: 'True', reason: 'Accepted', message: 'The spec passed the controller\'s semantic checks.' });
    if (verdict.value === undefined) {
      const why = verdict.notInEffect ?? { reason: 'NotInEffect', message: 'The object is accepted but not in effect.' };
      conditions.push({ type: CONDITION.ready, status: 'False', reason: why.reason, message: why.message });
    } else {
      const r = ctx.readyFor(def.kind, namespace, name);
      readinessStatus = r.status;
      conditions.push({ type: CONDITION.ready, status: r.ready ? 'True' : 'False', reason: r.reason, message: r.message });
    }
  } else {
    const kept = ctx.desired.get(def.kind, namespace, name) !== undefined;
    // The last accepted spec is what workloads run: its status fields (enforcedBy) stay current.
    if (kept) readinessStatus = ctx.readyFor(def.kind, namespace, name).status;
    conditions.push({ type: CONDITION.accepted, status: 'False', reason: verdict.reason, message: verdict.message });
    conditions.push({
      type: CONDITION.ready,
      status: 'False',
      reason: kept ? 'LastAcceptedInEffect' : 'NotAccepted',
      message: kept
        ? 'This generation was rejected; the last accepted spec stays in effect until a valid one is applied.'
        : 'No accepted spec of this object is in effect.',
    });
  }

  const owned: Record<string, unknown> = {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions: mergeConditions(obj.status?.conditions, conditions, generation, new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z')),
    ...(verdict.accepted ? verdict.status : {}),
    ...readinessStatus,
  };
  if (!verdict.accepted) await ctx.statusWriter.rejected(def.kind, obj, def.rejectedEvent, `${verdict.reason}: ${verdict.message}`);
  await ctx.statusWriter.write(def.kind, obj, owned);
  return verdict.accepted
    ? { result: 'accepted', ...(verdict.requeueAfterMs !== undefined ? { requeueAfterMs: verdict.requeueAfterMs } : {}) }
    : { result: 'rejected' };
}

/** JSON pointer (`/spec/clients/0/scopeCeiling/1`) → field path (`spec.clients[0].scopeCeiling[1]`). */
export function fieldPath(pointer: string): string {
  const parts = pointer.split('/').filter((p) => p !== '').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? 'spec' : out;
}
