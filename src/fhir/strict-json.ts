/**
 * A small strict JSON parser for request bodies that an authorization decision depends on.
 *
 * `JSON.parse` keeps the *last* of two duplicate keys while some FHIR servers keep the first, so a
 * body like `{"request":{"url":"Patient/mine"},"request":{"url":"Patient/other"}}` could be read
 * one way by fhirgate and another way upstream. This parser rejects duplicate keys, invalid UTF-8,
 * and bodies beyond size or nesting caps, and never recurses deeper than the cap.
 */

export interface StrictJsonLimits {
  readonly maxBytes: number;
  readonly maxDepth: number;
}

export type StrictJsonResult =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: 'too_large' | 'encoding' | 'syntax' | 'duplicate_key' | 'too_deep' };

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

class JsonError extends Error {
  readonly code: 'syntax' | 'duplicate_key' | 'too_deep';
  constructor(code: 'syntax' | 'duplicate_key' | 'too_deep') {
    super(code);
    this.code = code;
  }
}

export function parseStrictJson(body: Uint8Array, limits: StrictJsonLimits): StrictJsonResult {
  if (body.length > limits.maxBytes) return { ok: false, error: 'too_large' };
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return { ok: false, error: 'encoding' };
  }
  const p = new Parser(text, limits.maxDepth);
  try {
    p.ws();
    const value = p.value(0);
    p.ws();
    if (p.i !== text.length) throw new JsonError('syntax');
    return { ok: true, value };
  } catch (e) {
    if (e instanceof JsonError) return { ok: false, error: e.code };
    // A RangeError here would be a stack overflow, which the depth cap is meant to prevent.
    return { ok: false, error: 'syntax' };
  }
}

class Parser {
  readonly s: string;
  readonly maxDepth: number;
  i = 0;
  constructor(s: string, maxDepth: number) {
    this.s = s;
    this.maxDepth = maxDepth;
  }

  ws(): void {
    for (;;) {
      const c = this.s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++;
      else return;
    }
  }

  value(depth: number): unknown {
    const c = this.s[this.i];
    if (c === '{' || c === '[') {
      if (depth >= this.maxDepth) throw new JsonError('too_deep');
      return c === '{' ? this.object(depth + 1) : this.array(depth + 1);
    }
    if (c === '"') return this.string();
    if (c === 't') return this.literal('true', true);
    if (c === 'f') return this.literal('false', false);
    if (c === 'n') return this.literal('null', null);
    return this.number();
  }

  literal<T>(word: string, v: T): T {
    if (!this.s.startsWith(word, this.i)) throw new JsonError('syntax');
    this.i += word.length;
    return v;
  }

  number(): number {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.s.slice(this.i, this.i + 400));
    if (m === null || m[0].length === 0) throw new JsonError('syntax');
    this.i += m[0].length;
    return Number(m[0]);
  }

  string(): string {
    this.i++; // opening quote
    let out = '';
    for (;;) {
      const c = this.s.charCodeAt(this.i);
      if (Number.isNaN(c) || c < 0x20) throw new JsonError('syntax');
      if (c === 0x22) {
        this.i++;
        return out;
      }
      if (c === 0x5c) {
        const e = this.s[this.i + 1];
        this.i += 2;
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const hex = this.s.slice(this.i, this.i + 4);
            if (!/^[0-9A-Fa-f]{4}$/.test(hex)) throw new JsonError('syntax');
            out += String.fromCharCode(parseInt(hex, 16));
            this.i += 4;
            break;
          }
          default:
            throw new JsonError('syntax');
        }
        continue;
      }
      out += this.s[this.i];
      this.i++;
    }
  }

  object(depth: number): Record<string, unknown> {
    this.i++;
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') throw new JsonError('syntax');
      const key = this.string();
      if (Object.hasOwn(out, key)) throw new JsonError('duplicate_key');
      this.ws();
      if (this.s[this.i] !== ':') throw new JsonError('syntax');
      this.i++;
      this.ws();
      out[key] = this.value(depth);
      this.ws();
      const c = this.s[this.i];
      this.i++;
      if (c === '}') return out;
      if (c !== ',') throw new JsonError('syntax');
    }
  }

  array(depth: number): unknown[] {
    this.i++;
    const out: unknown[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth));
      this.ws();
      const c = this.s[this.i];
      this.i++;
      if (c === ']') return out;
      if (c !== ',') throw new JsonError('syntax');
    }
  }
}
