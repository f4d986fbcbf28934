/**
 * Builds a kind's status conditions from what the reconciler decided, keeping
 * `lastTransitionTime` when a condition's status did not change (so `kubectl get` ages and
 * alerting on "False for 10 minutes" mean what they say) and keeping conditions other
 * controllers own. Pure: the caller passes the time.
 */
import { CONDITION } from '../k8s/status.ts';
import type { Condition } from '../k8s/types.ts';
import { canonicalJson } from './desired-state.ts';

export interface ConditionInput {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
}

/** Condition messages are bounded like the CRD says (and log-safe: they never hold tokens). */
const MAX_MESSAGE = 32_768;

export function mergeConditions(
  existing: readonly Condition[] | undefined,
  wanted: readonly ConditionInput[],
  generation: number | undefined,
  nowIso: string,
): Condition[] {
  const byType = new Map((existing ?? []).map((c) => [c.type, c]));
  const ours = new Set(wanted.map((w) => w.type));
  const out: Condition[] = [];
  for (const w of wanted) {
    const before = byType.get(w.type);
    out.push({
      type: w.type,
      status: w.status,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      lastTransitionTime: before !== undefined && before.status === w.status ? before.lastTransitionTime : nowIso,
      reason: w.reason,
      message: w.message.length > MAX_MESSAGE ? `${w.message.slice(0, MAX_MESSAGE - 1)}…` : w.message,
    });
  }
  // Conditions of other types (written by someone else) are carried over untouched.
  for (const c of existing ?? []) if (!ours.has(c.type)) out.push(c);
  return out;
}

/** True when two status fragments carry the same content (key order and undefined fields ignored). */
export function sameStatus(a: unknown, b: unknown): boolean {
  return canonicalJson(a ?? {}) === canonicalJson(b ?? {});
}

export { CONDITION };
