/**
 * What a JSON Schema `pattern` means to the Kubernetes API server.
 *
 * ajv runs patterns as ECMAScript regular expressions; the API server runs the same text with Go's
 * RE2, which has no lookaround and no backreferences and spells some escapes differently. A CRD
 * whose pattern RE2 cannot compile is refused when it is applied, and a pattern RE2 reads
 * differently would validate differently in the cluster than in `fhirgate lint`. So this module
 * accepts only a small, explicitly listed subset whose meaning is the same in both engines, and
 * rejects everything else with UnsupportedPatternError (the generator then fails, loudly).
 *
 * It also measures the pattern: for a pattern anchored at both ends, the longest string it can
 * match. The CRD generator uses that as `maxLength` where the source schema gave none, because the
 * API server's CEL cost estimate needs a length bound on every string, and a bound implied by the
 * pattern rejects nothing the pattern accepts.
 *
 * Subset: literals; `.`; classes `[...]`/`[^...]` with ranges and escapes; escapes `\d \D \w \W \s
 * \S`, `\xHH`, `\n \r \t \f \v` and escaped punctuation; groups `(...)` and `(?:...)`; alternation;
 * quantifiers `? * + {n} {n,} {n,m}` (n, m ≤ 1000, RE2's limit), optionally lazy; anchors `^ $`.
 */

/** Go's RE2 refuses repeat counts above this. */
const MAX_REPEAT = 1000;

export class UnsupportedPatternError extends TypeError {
  readonly code = 'ERR_K8S_PATTERN';
  constructor(pattern: string, at: number, why: string) {
    super(`pattern ${JSON.stringify(pattern)} at offset ${at}: ${why}`);
  }
}

export interface PatternShape {
  /** Every top-level alternative starts with `^` and ends with `$`. */
  readonly anchored: boolean;
  /** Shortest match length (characters). */
  readonly minLength: number;
  /** Longest full match when anchored and finite; undefined otherwise. */
  readonly maxLength: number | undefined;
  /** Whether some match could contain a line terminator (\n, \r, U+2028, U+2029). */
  readonly mayMatchLineTerminator: boolean;
}

interface Span {
  min: number;
  max: number; // Infinity when unbounded
  lineTerminator: boolean;
}

const PUNCTUATION = new Set('^$\\.*+?()[]{}|/-'.split(''));
const LINE_TERMINATORS = [0x0a, 0x0d, 0x2028, 0x2029];

/** Parses and measures a pattern; throws UnsupportedPatternError outside the shared subset. */
export function analyzePattern(pattern: string): PatternShape {
  const p = new Parser(pattern);
  const alternatives = p.alternation();
  if (p.pos !== pattern.length) p.fail('unbalanced ")"');
  const anchored = alternatives.every((a) => a.startsAnchored && a.endsAnchored);
  const min = Math.min(...alternatives.map((a) => a.span.min));
  const max = Math.max(...alternatives.map((a) => a.span.max));
  return {
    anchored,
    minLength: min,
    maxLength: anchored && Number.isFinite(max) ? max : undefined,
    mayMatchLineTerminator: alternatives.some((a) => a.span.lineTerminator),
  };
}

interface Sequence {
  span: Span;
  startsAnchored: boolean;
  endsAnchored: boolean;
}

class Parser {
  readonly src: string;
  pos = 0;
  constructor(src: string) {
    this.src = src;
  }

  fail(why: string): never {
    throw new UnsupportedPatternError(this.src, this.pos, why);
  }

  peek(): string | undefined {
    return this.src[this.pos];
  }

  alternation(): Sequence[] {
    const out = [this.sequence()];
    while (this.peek() === '|') {
      this.pos++;
      out.push(this.sequence());
    }
    return out;
  }

  sequence(): Sequence {
    const span: Span = { min: 0, max: 0, lineTerminator: false };
    let startsAnchored = false;
    let endsAnchored = false;
    let first = true;
    for (let c = this.peek(); c !== undefined && c !== '|' && c !== ')'; c = this.peek()) {
      if (c === '^' || c === '$') {
        this.pos++;
        if (isQuantifierStart(this.peek())) this.fail('quantified anchor');
        if (c === '^' && first) startsAnchored = true;
        endsAnchored = c === '$';
        first = false;
        continue;
      }
      const atom = this.quantified(this.atom());
      span.min += atom.min;
      span.max += atom.max;
      span.lineTerminator ||= atom.lineTerminator;
      endsAnchored = false;
      first = false;
    }
    return { span, startsAnchored, endsAnchored };
  }

  atom(): Span {
    const c = this.peek();
    if (c === '(') return this.group();
    if (c === '[') return this.charClass();
    if (c === '\\') return this.escape(false);
    if (c === '.') {
      this.pos++;
      return one(false);
    }
    if (c === '*' || c === '+' || c === '?' || c === '{' || c === '}' || c === ']') this.fail(`unexpected "${c}"`);
    this.pos++;
    return one(LINE_TERMINATORS.includes((c ?? '').codePointAt(0) ?? -1));
  }

  group(): Span {
    this.pos++; // (
    if (this.peek() === '?') {
      if (this.src[this.pos + 1] !== ':') this.fail('lookaround and named groups are not supported by RE2 (or not portably)');
      this.pos += 2;
    }
    const alternatives = this.alternation();
    if (this.peek() !== ')') this.fail('missing ")"');
    this.pos++;
    if (alternatives.some((a) => a.startsAnchored || a.endsAnchored)) this.fail('anchors inside groups are not supported');
    return {
      min: Math.min(...alternatives.map((a) => a.span.min)),
      max: Math.max(...alternatives.map((a) => a.span.max)),
      lineTerminator: alternatives.some((a) => a.span.lineTerminator),
    };
  }

  charClass(): Span {
    this.pos++; // [
    let negated = false;
    if (this.peek() === '^') {
      negated = true;
      this.pos++;
    }
    if (this.peek() === ']') this.fail('empty class or leading "]" differs between ECMAScript and RE2');
    let lineTerminator = false;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail('missing "]"');
      if (c === ']') break;
      if (c === '[') this.fail('unescaped "[" inside a class differs between ECMAScript and RE2');
      const lo = this.classAtom();
      if (this.peek() === '-' && this.src[this.pos + 1] !== ']') {
        this.pos++;
        const hi = this.classAtom();
        if (lo.code === undefined || hi.code === undefined) this.fail('range bound must be a single character');
        if (lo.code > hi.code) this.fail('range out of order');
        lineTerminator ||= LINE_TERMINATORS.some((t) => t >= lo.code! && t <= hi.code!);
      } else {
        lineTerminator ||= lo.lineTerminator;
      }
    }
    this.pos++; // ]
    return one(negated || lineTerminator);
  }

  /** One class member: a character (with its code) or a shorthand class such as \d. */
  classAtom(): { code: number | undefined; lineTerminator: boolean } {
    const c = this.peek();
    if (c === '\\') {
      const start = this.pos;
      const s = this.escape(true);
      const text = this.src.slice(start, this.pos);
      return { code: escapeCode(text), lineTerminator: s.lineTerminator };
    }
    this.pos++;
    const code = (c ?? '').codePointAt(0) ?? 0;
    if (code > 0xffff) this.pos++;
    return { code, lineTerminator: LINE_TERMINATORS.includes(code) };
  }

  escape(inClass: boolean): Span {
    this.pos++; // backslash
    const c = this.peek();
    if (c === undefined) this.fail('trailing backslash');
    this.pos++;
    if ('dwS'.includes(c)) return one(false);
    if ('DWs'.includes(c)) return one(true);
    if ('nrfv'.includes(c)) return one(c === 'n' || c === 'r');
    if (c === 't') return one(false);
    if (c === 'x') {
      const hex = this.src.slice(this.pos, this.pos + 2);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) this.fail('\\x needs two hex digits');
      this.pos += 2;
      return one(LINE_TERMINATORS.includes(parseInt(hex, 16)));
    }
    if (PUNCTUATION.has(c) && (c !== '-' || inClass)) return one(false);
    return this.fail(`escape "\\${c}" is not in the portable subset`);
  }

  quantified(atom: Span): Span {
    const c = this.peek();
    let lo: number;
    let hi: number;
    if (c === '?') [lo, hi] = [0, 1];
    else if (c === '*') [lo, hi] = [0, Infinity];
    else if (c === '+') [lo, hi] = [1, Infinity];
    else if (c === '{') {
      const m = /^\{(\d{1,4})(,(\d{0,4}))?\}/.exec(this.src.slice(this.pos));
      if (m === null) this.fail('malformed {n,m} quantifier');
      lo = Number(m[1]);
      hi = m[2] === undefined ? lo : m[3] === '' ? Infinity : Number(m[3]);
      if (lo > MAX_REPEAT || (Number.isFinite(hi) && hi > MAX_REPEAT)) this.fail(`repeat count above ${MAX_REPEAT}`);
      if (lo > hi) this.fail('{n,m} with n > m');
      this.pos += m[0].length - 1;
    } else return atom;
    this.pos++;
    if (this.peek() === '?') this.pos++; // lazy: same set of full matches
    if (isQuantifierStart(this.peek())) this.fail('nested quantifier');
    return {
      min: atom.min * lo,
      max: hi === 0 ? 0 : atom.max * hi,
      lineTerminator: hi > 0 && atom.lineTerminator,
    };
  }
}

function isQuantifierStart(c: string | undefined): boolean {
  return c === '?' || c === '*' || c === '+' || c === '{';
}

function one(lineTerminator: boolean): Span {
  return { min: 1, max: 1, lineTerminator };
}

/** Code point of a single-character escape (`\xHH`, `\n`, `\-`), undefined for shorthand classes. */
function escapeCode(text: string): number | undefined {
  const c = text[1] ?? '';
  if (c === 'x') return parseInt(text.slice(2), 16);
  const controls: Record<string, number> = { n: 0x0a, r: 0x0d, t: 0x09, f: 0x0c, v: 0x0b };
  if (Object.hasOwn(controls, c)) return controls[c];
  if ('dDwWsS'.includes(c)) return undefined;
  return c.codePointAt(0);
}
