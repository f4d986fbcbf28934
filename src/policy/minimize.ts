/**
 * PHI minimization: forced `_elements` / `_summary` for matching clients, roles or types, applied
 * as query rewrites on reads and searches. Client-supplied `_elements` beyond the allowed set are
 * rejected or trimmed, per rule.
 */
import type { Principal } from '../core/principal.ts';
import type { ReasonCode } from '../core/reasons.ts';
import { append, EMPTY } from '../fhir/lists.ts';
import type { FhirRequest } from '../fhir/request.ts';
import type { CompiledMinimization, CompiledPolicy } from './compile.ts';

export type MinimizeOutcome =
  | { readonly ok: true; readonly set: ReadonlyArray<readonly [string, string]>; readonly rules: readonly string[] }
  | { readonly ok: false; readonly reason: ReasonCode; readonly rule: string };

function matches(rule: CompiledMinimization, p: Principal, type: string | undefined): boolean {
  if (rule.clients !== undefined && !rule.clients.has(p.clientId)) return false;
  if (rule.roles !== undefined && !p.roles.some((r) => rule.roles?.has(r))) return false;
  if (rule.resourceTypes !== undefined && (type === undefined || !rule.resourceTypes.has(type))) return false;
  return true;
}

/** The outcome when no rule applies (the usual one), made once. */
const NOTHING_APPLIED: MinimizeOutcome = Object.freeze({ ok: true, set: EMPTY, rules: EMPTY });

export function minimize(policy: CompiledPolicy, fhir: FhirRequest, p: Principal, type: string | undefined): MinimizeOutcome {
  let applied: string[] | undefined;
  let allowed: Set<string> | undefined;
  let excess: 'reject' | 'trim' = 'trim';
  let excessRule = '';
  let summary: string | undefined;
  for (const rule of policy.minimization) {
    if (!matches(rule, p, type)) continue;
    applied = append(applied, rule.name);
    if (rule.elements !== undefined) {
      // Several matching rules: the client gets the intersection (the strictest).
      allowed = allowed === undefined ? new Set(rule.elements) : new Set([...allowed].filter((e) => rule.elements?.includes(e)));
      if (rule.excessElements === 'reject') {
        excess = 'reject';
        excessRule = rule.name;
      }
    }
    if (rule.summary !== undefined) summary = rule.summary;
  }
  if (applied === undefined) return NOTHING_APPLIED;
  const set: Array<readonly [string, string]> = [];
  if (allowed !== undefined) {
    const asked = fhir.search.result.elements;
    if (asked === undefined) {
      set.push(['_elements', [...allowed].join(',')]);
    } else {
      const within = asked.filter((e) => allowed?.has(e));
      if (within.length !== asked.length && excess === 'reject') return { ok: false, reason: 'elements_not_allowed', rule: `minimization:${excessRule}` };
      set.push(['_elements', (within.length > 0 ? within : [...allowed]).join(',')]);
    }
  }
  if (summary !== undefined) {
    const asked = fhir.search.result.summary;
    // A client may ask for less (count) but never for more than the forced summary.
    if (asked !== 'count') set.push(['_summary', summary]);
  }
  return { ok: true, set, rules: applied };
}
