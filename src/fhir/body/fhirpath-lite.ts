/**
 * A tiny evaluator for the FHIRPath forms that R4 search parameters use to name reference
 * elements — enough to find a resource's Patient-compartment references without a FHIRPath engine.
 *
 * Supported grammar (whitespace around `|` and `as` is free):
 *
 *   expression := path ( '|' path )*
 *   path       := Type ( '.' step )*                         e.g. Observation.subject
 *               | '(' Type ( '.' step )* ' as ' Type ')'     e.g. (Observation.value as Quantity)
 *   step       := element                                   child element, arrays flattened
 *               | 'where(resolve() is ' Type ')'            keep references that point to Type
 *               | 'as(' Type ')' | 'ofType(' Type ')'       choice-type selection
 *
 * `as T` after an element `x` selects the choice element `xT` (FHIR JSON's `value[x]` →
 * `valueQuantity`); when the resource has plain `x` instead it is kept. `where(resolve() is T)`
 * cannot resolve anything, so it keeps a Reference whose `reference` names type T (relative
 * `T/id`, or an absolute URL ending in `/T/id`), whose `type` is T, or whose target cannot be told
 * (`urn:uuid:`, `#contained`, logical identifiers): dropping those would hide them from the policy,
 * which must treat any reference it cannot normalize as "not the launch patient".
 *
 * Anything else (functions, operators, indexers) does not parse; callers report it as
 * unsupported rather than guessing.
 */

export type Step =
  | { readonly kind: 'child'; readonly name: string }
  | { readonly kind: 'as'; readonly type: string }
  | { readonly kind: 'resolve-is'; readonly type: string };

export interface PathExpr {
  /** The resource type the path starts from; it only applies to resources of that type. */
  readonly root: string;
  readonly steps: readonly Step[];
}

export type ParsedExpression = { readonly ok: true; readonly paths: readonly PathExpr[] } | { readonly ok: false; readonly error: string };

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const MAX_EXPRESSION = 4096;

/**
 * Splits `expr` on `sep` where it stands outside parentheses; undefined when the parentheses do
 * not balance.
 */
export function splitTopLevel(expr: string, sep: string): string[] | undefined {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of expr) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (depth < 0) return undefined;
    if (c === sep && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (depth !== 0) return undefined;
  out.push(cur);
  return out;
}

function parseStep(s: string): Step | undefined {
  if (NAME.test(s)) return { kind: 'child', name: s };
  let m = /^where\(\s*resolve\(\)\s+is\s+([A-Za-z][A-Za-z0-9]*)\s*\)$/.exec(s);
  if (m !== null) return { kind: 'resolve-is', type: m[1] ?? '' };
  m = /^(?:as|ofType)\(\s*([A-Za-z][A-Za-z0-9]*)\s*\)$/.exec(s);
  if (m !== null) return { kind: 'as', type: m[1] ?? '' };
  return undefined;
}

function parsePath(raw: string): PathExpr | undefined {
  let s = raw.trim();
  const steps: Step[] = [];
  let cast: string | undefined;
  const paren = /^\((.*)\s+as\s+([A-Za-z][A-Za-z0-9]*)\s*\)$/s.exec(s);
  if (paren !== null) {
    s = (paren[1] ?? '').trim();
    cast = paren[2];
  }
  const parts = splitTopLevel(s, '.');
  if (parts === undefined || parts.length < 2) return undefined;
  const [root = '', ...rest] = parts.map((p) => p.trim());
  if (!NAME.test(root)) return undefined;
  for (const p of rest) {
    const step = parseStep(p);
    if (step === undefined) return undefined;
    steps.push(step);
  }
  if (cast !== undefined) steps.push({ kind: 'as', type: cast });
  return { root, steps };
}

/** Parses an expression of the supported subset. */
export function parseExpression(expr: string): ParsedExpression {
  if (expr.length > MAX_EXPRESSION) return { ok: false, error: 'expression too long' };
  const branches = splitTopLevel(expr, '|');
  if (branches === undefined) return { ok: false, error: 'unbalanced parentheses' };
  const paths: PathExpr[] = [];
  for (const b of branches) {
    const p = parsePath(b);
    if (p === undefined) return { ok: false, error: `unsupported form: ${b.trim()}` };
    paths.push(p);
  }
  return { ok: true, paths };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The type a reference string names, or undefined when it cannot be told from the string. */
export function referenceTargetType(ref: string): string | undefined {
  const m = /(?:^|\/)([A-Z][A-Za-z]*)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(ref);
  return m === null ? undefined : m[1];
}

function mayResolveTo(node: unknown, type: string): boolean {
  if (!isObject(node)) return false;
  const ref = node['reference'];
  const declared = node['type'];
  if (typeof ref === 'string') {
    const t = referenceTargetType(ref);
    if (t !== undefined) return t === type;
  }
  if (typeof declared === 'string') return declared === type;
  return true;
}

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * Evaluates `paths` on `resource` and returns the nodes reached. Paths whose root is not the
 * resource's own `resourceType` contribute nothing. Work is bounded by the size of the resource.
 */
export function evaluatePaths(resource: Record<string, unknown>, paths: readonly PathExpr[]): unknown[] {
  const out: unknown[] = [];
  for (const path of paths) {
    if (path.root !== resource['resourceType']) continue;
    let nodes: unknown[] = [resource];
    let lastChild: string | undefined;
    let parents: unknown[] = [];
    for (const step of path.steps) {
      if (step.kind === 'child') {
        parents = nodes;
        lastChild = step.name;
        nodes = childValues(nodes, step.name);
      } else if (step.kind === 'as') {
        // `x as T`: the choice element `xT` of the same parents, or plain `x` if that is what exists.
        if (lastChild !== undefined) nodes = [...childValues(parents, lastChild + capitalize(step.type)), ...nodes];
      } else {
        nodes = nodes.filter((n) => mayResolveTo(n, step.type));
      }
    }
    out.push(...nodes);
  }
  return out;
}

function childValues(nodes: readonly unknown[], name: string): unknown[] {
  const next: unknown[] = [];
  for (const n of nodes) {
    if (!isObject(n) || !Object.hasOwn(n, name)) continue;
    const v = n[name];
    if (Array.isArray(v)) next.push(...(v as unknown[]));
    else if (v !== undefined && v !== null) next.push(v);
  }
  return next;
}
