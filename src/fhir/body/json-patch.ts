/**
 * Structural validation of JSON Patch documents (RFC 6902) sent as FHIR `PATCH` bodies
 * (`application/json-patch+json`).
 *
 * The gate cannot apply a patch (it never sees the stored resource), so it checks what it can
 * know from the patch alone: the document is an array of well-formed operations from the RFC 6902
 * set, every pointer is a valid RFC 6901 JSON Pointer, and no operation changes an element that a
 * patch must never touch here:
 *
 * - `/id` and `/resourceType` — the resource's identity is fixed by the URL;
 * - `/meta/security` — security labels drive consent and sensitivity rules; a client that may
 *   write a resource must not be able to relabel it through a side door.
 *
 * "Touches" covers the element itself, anything below it (`/meta/security/0/code`) and anything
 * above it (`/meta`, or the whole document at `""`), since replacing a parent replaces the child.
 * A `test` operation only reads, and the `from` of `copy` only reads, so neither is restricted;
 * the `from` of `move` removes its source and is.
 *
 * Members RFC 6902 does not define are ignored, as the RFC requires of servers.
 */

export type JsonPatchOp = 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';

export type JsonPatchOperation =
  | { readonly op: 'add' | 'replace' | 'test'; readonly path: string; readonly value: unknown }
  | { readonly op: 'remove'; readonly path: string }
  | { readonly op: 'move' | 'copy'; readonly path: string; readonly from: string };

export type JsonPatchResult =
  | { readonly ok: true; readonly operations: readonly JsonPatchOperation[] }
  | { readonly ok: false; readonly reason: 'body_patch_invalid' | 'body_patch_forbidden'; readonly detail: string };

/** Pointers (as reference-token lists) no patch operation may modify. */
export const PROTECTED_POINTERS: ReadonlyArray<readonly string[]> = [['id'], ['resourceType'], ['meta', 'security']];

const OPS: ReadonlySet<string> = new Set<JsonPatchOp>(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/**
 * Splits an RFC 6901 JSON Pointer into unescaped reference tokens; undefined when it is not one
 * (it must be empty or start with `/`, and `~` must be followed by `0` or `1`).
 */
export function parseJsonPointer(pointer: string): string[] | undefined {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) return undefined;
  const tokens: string[] = [];
  for (const raw of pointer.slice(1).split('/')) {
    if (/~(?![01])/.test(raw)) return undefined;
    tokens.push(raw.replace(/~1/g, '/').replace(/~0/g, '~'));
  }
  return tokens;
}

/** True when one token list is a prefix of the other (same element, an ancestor or a descendant). */
function overlaps(a: readonly string[], b: readonly string[]): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function touchesProtected(tokens: readonly string[]): boolean {
  return PROTECTED_POINTERS.some((p) => overlaps(tokens, p));
}

type OpCheck = { readonly ok: true; readonly op: JsonPatchOperation } | { readonly ok: false; readonly reason: 'body_patch_invalid' | 'body_patch_forbidden'; readonly why: string };

function checkOperation(raw: unknown): OpCheck {
  const bad = (why: string): OpCheck => ({ ok: false, reason: 'body_patch_invalid', why });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('is not an object');
  const o = raw as Record<string, unknown>;
  const op = o['op'];
  const path = o['path'];
  if (typeof op !== 'string' || !OPS.has(op)) return bad('has no RFC 6902 "op"');
  if (typeof path !== 'string') return bad('has no string "path"');
  const tokens = parseJsonPointer(path);
  if (tokens === undefined) return bad('"path" is not a JSON Pointer');
  const hasValue = Object.hasOwn(o, 'value');
  const from = o['from'];

  switch (op as JsonPatchOp) {
    case 'test':
      if (!hasValue) return bad('has no "value"');
      return { ok: true, op: { op: 'test', path, value: o['value'] } };
    case 'add':
    case 'replace':
      if (!hasValue) return bad('has no "value"');
      if (touchesProtected(tokens)) return { ok: false, reason: 'body_patch_forbidden', why: 'changes a protected element' };
      return { ok: true, op: { op: op as 'add' | 'replace', path, value: o['value'] } };
    case 'remove':
      if (touchesProtected(tokens)) return { ok: false, reason: 'body_patch_forbidden', why: 'changes a protected element' };
      return { ok: true, op: { op: 'remove', path } };
    case 'move':
    case 'copy': {
      if (typeof from !== 'string') return bad('has no string "from"');
      const fromTokens = parseJsonPointer(from);
      if (fromTokens === undefined) return bad('"from" is not a JSON Pointer');
      if (touchesProtected(tokens) || (op === 'move' && touchesProtected(fromTokens))) {
        return { ok: false, reason: 'body_patch_forbidden', why: 'changes a protected element' };
      }
      return { ok: true, op: { op: op as 'move' | 'copy', path, from } };
    }
  }
}

/**
 * Validates a parsed JSON Patch document. The `detail` of a failure names the operation by index
 * only, never a pointer or value from the body.
 */
export function validateJsonPatch(doc: unknown): JsonPatchResult {
  if (!Array.isArray(doc)) return { ok: false, reason: 'body_patch_invalid', detail: 'JSON Patch document is not an array' };
  const operations: JsonPatchOperation[] = [];
  for (let i = 0; i < doc.length; i++) {
    const r = checkOperation(doc[i]);
    if (!r.ok) return { ok: false, reason: r.reason, detail: `operation ${i} ${r.why}` };
    operations.push(r.op);
  }
  return { ok: true, operations };
}
