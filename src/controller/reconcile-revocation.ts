/**
 * TokenRevocation → revocation entries merged into each namespace's bundle. Until `expiresAt`
 * (when set) it is in effect; after it, it is accepted but taken out of `desired` (Ready=False,
 * reason Expired), and the reconciler asks to run again at the expiry instant so the lift happens
 * on time without polling.
 */
import type { Revocations } from '../token/config.ts';
import type { TokenRevocationSpec } from '../k8s/types.ts';
import type { CachedObject, KindReconciler, Verdict } from './reconcile.ts';

/** Timers longer than this are re-armed (setTimeout overflows past 2^31-1 ms). */
const MAX_REQUEUE_MS = 6 * 60 * 60 * 1000;

const isStringList = (v: unknown): v is readonly string[] => Array.isArray(v) && v.every((s) => typeof s === 'string' && s !== '');

export function evaluateRevocation(obj: CachedObject, nowMs: number): Verdict {
  const spec = obj.spec as TokenRevocationSpec | undefined;
  if (spec === undefined || spec === null || typeof spec !== 'object') return { accepted: false, reason: 'InvalidSpec', message: 'spec: must be an object' };
  const jtis = spec.jtis ?? [];
  const clients = spec.clients ?? [];
  const subjects = spec.subjects ?? [];
  if (!isStringList(jtis)) return { accepted: false, reason: 'InvalidSpec', message: 'spec.jtis: must be a list of non-empty strings' };
  if (!isStringList(clients)) return { accepted: false, reason: 'InvalidSpec', message: 'spec.clients: must be a list of non-empty strings' };
  if (!Array.isArray(subjects)) return { accepted: false, reason: 'InvalidSpec', message: 'spec.subjects: must be a list' };
  for (const [i, s] of subjects.entries()) {
    if (s === null || typeof s !== 'object' || typeof s.issuer !== 'string' || !/^https?:\/\//.test(s.issuer) || typeof s.subject !== 'string' || s.subject === '') {
      return { accepted: false, reason: 'InvalidSpec', message: `spec.subjects[${i}]: needs an issuer URL and a subject` };
    }
  }
  const entries = jtis.length + clients.length + subjects.length;
  if (entries === 0) return { accepted: false, reason: 'InvalidSpec', message: 'spec: list at least one jti, subject or client' };
  const status = { entries };
  const value: Revocations = { jtis: [...jtis], subjects: subjects.map((s) => ({ issuer: s.issuer, subject: s.subject })), clients: [...clients] };
  if (spec.expiresAt === undefined) return { accepted: true, value, status };
  const expires = Date.parse(spec.expiresAt);
  if (!Number.isFinite(expires)) return { accepted: false, reason: 'InvalidSpec', message: 'spec.expiresAt: must be an RFC 3339 timestamp' };
  if (expires <= nowMs) {
    return { accepted: true, value: undefined, status, notInEffect: { reason: 'Expired', message: `The revocation expired at ${spec.expiresAt} and is no longer enforced.` } };
  }
  return { accepted: true, value, status, requeueAfterMs: Math.min(expires - nowMs, MAX_REQUEUE_MS) };
}

export const revocationReconciler: KindReconciler = {
  kind: 'TokenRevocation',
  rejectedEvent: 'RevocationRejected',
  evaluate: evaluateRevocation,
};
