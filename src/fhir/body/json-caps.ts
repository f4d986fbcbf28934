/**
 * Caps the strict JSON parser does not enforce itself: array length, string length, and strings
 * that are not well-formed Unicode.
 *
 * The byte and depth caps are applied while parsing (src/fhir/strict-json.ts). What remains is a
 * single iterative walk over the parsed value, so that a body of a million tiny array elements or
 * one enormous string is refused before schema validation spends time on it. A `\ud800` escape
 * decodes to a lone surrogate, which UTF-8 cannot represent: two servers may repair it in two
 * different ways, so it is refused as an encoding error instead.
 */

export interface JsonCaps {
  /** Most elements in any one array. */
  readonly maxArrayLength: number;
  /** Most UTF-16 code units in any one string (object keys included). */
  readonly maxStringLength: number;
}

export type CapsResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: 'array_too_long' | 'string_too_long' | 'string_not_well_formed'; readonly path: string };

function checkString(s: string, caps: JsonCaps): 'string_too_long' | 'string_not_well_formed' | undefined {
  if (s.length > caps.maxStringLength) return 'string_too_long';
  if (!s.isWellFormed()) return 'string_not_well_formed';
  return undefined;
}

/** A value still to visit, with a link to its parent so a path is only built on failure. */
interface Pending {
  readonly v: unknown;
  readonly parent: Pending | undefined;
  readonly token: string;
}

function pathOf(node: Pending | undefined): string {
  const tokens: string[] = [];
  for (let n = node; n !== undefined && n.parent !== undefined; n = n.parent) tokens.push(n.token);
  return tokens.reverse().map((t) => `/${t.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/**
 * Walks `value` (the output of the strict parser: plain objects, arrays and primitives, no cycles).
 * The reported `path` names the container or string that broke a cap, using array indexes and
 * object keys; for a key that is itself too long or malformed, the path of its object.
 */
export function checkJsonCaps(value: unknown, caps: JsonCaps): CapsResult {
  const stack: Pending[] = [{ v: value, parent: undefined, token: '' }];
  // Each value is pushed once, so the loop is bounded by the number of values in the body.
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const v = node.v;
    if (typeof v === 'string') {
      const err = checkString(v, caps);
      if (err !== undefined) return { ok: false, error: err, path: pathOf(node) };
    } else if (Array.isArray(v)) {
      if (v.length > caps.maxArrayLength) return { ok: false, error: 'array_too_long', path: pathOf(node) };
      for (let i = 0; i < v.length; i++) stack.push({ v: v[i], parent: node, token: String(i) });
    } else if (typeof v === 'object' && v !== null) {
      for (const key of Object.keys(v)) {
        const err = checkString(key, caps);
        if (err !== undefined) return { ok: false, error: err, path: pathOf(node) };
        stack.push({ v: (v as Record<string, unknown>)[key], parent: node, token: key });
      }
    }
  }
  return { ok: true };
}
