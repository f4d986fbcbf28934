/**
 * JSON parsing for token headers and claim sets. `JSON.parse` silently keeps the last of two
 * members with the same name, so `{"sub":"alice","sub":"admin"}` could mean different things to
 * us and to the issuer's or another verifier's parser (RFC 7515 §5.2 / RFC 8725 §3.9 say reject).
 * This module parses with JSON.parse and then checks the text for repeated names.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes bytes as UTF-8, returning undefined for any invalid sequence (or a BOM). */
export function decodeUtf8Strict(bytes: Uint8Array): string | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return undefined;
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Parses text that must be a JSON object without duplicate member names at any depth.
 * Returns undefined for anything else. Never throws.
 */
export function parseStrictJsonObject(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return hasDuplicateKeys(text, value) ? undefined : (value as Record<string, unknown>);
}

/**
 * Reports whether any object in text that JSON.parse accepted repeats a member name (compared
 * after unescaping, so `"a"` and `"\u0061"` collide); `parsed` is what JSON.parse made of it.
 * JSON.parse keeps one property per distinct name, so: no object repeats a name exactly when
 * the text has as many member names as the parsed objects have own keys. (With a repeat, the
 * object repeating it has fewer keys than names, and an object that was the overwritten value of
 * a repeated name is not in the result at all: the key count only gets smaller.) Both counts are
 * iterative, so deep nesting cannot exhaust the stack, and no name is sliced or hashed.
 */
export function hasDuplicateKeys(validJson: string, parsed: unknown = JSON.parse(validJson)): boolean {
  return countMemberNames(validJson) !== countOwnKeys(parsed);
}

/** Member names in valid JSON text: the strings that open an object member. One pass. */
function countMemberNames(validJson: string): number {
  // One entry per open container: true for an object, false for an array.
  const inObject: boolean[] = [];
  let expectName = false;
  let names = 0;
  for (let i = 0; i < validJson.length; i++) {
    const c = validJson.charCodeAt(i);
    if (c === 0x22 /* " */) {
      if (expectName) names++;
      expectName = false;
      i = stringEnd(validJson, i);
    } else if (c === 0x7b /* { */) {
      inObject.push(true);
      expectName = true;
    } else if (c === 0x5b /* [ */) {
      inObject.push(false);
      expectName = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      inObject.pop();
      expectName = false;
    } else if (c === 0x2c /* , */) {
      expectName = inObject[inObject.length - 1] === true;
    }
  }
  return names;
}

/** Own keys of every object in a JSON.parse result, nested ones included. */
function countOwnKeys(parsed: unknown): number {
  let keys = 0;
  const pending: unknown[] = [parsed];
  while (pending.length > 0) {
    const v = pending.pop();
    if (typeof v !== 'object' || v === null) continue;
    const isArray = Array.isArray(v);
    const children: unknown[] = isArray ? v : Object.values(v);
    if (!isArray) keys += children.length;
    for (const child of children) if (typeof child === 'object' && child !== null) pending.push(child);
  }
  return keys;
}

/**
 * Index of the closing quote of the string literal starting at `start`: the first quote not
 * escaped, i.e. not preceded by an odd run of backslashes. Each character is looked at a bounded
 * number of times (indexOf finds the quotes; a backslash run is counted once, for the quote after it).
 */
function stringEnd(s: string, start: number): number {
  let q = s.indexOf('"', start + 1);
  while (q !== -1) {
    let backslashes = 0;
    while (s.charCodeAt(q - 1 - backslashes) === 0x5c /* \ */) backslashes++;
    if (backslashes % 2 === 0) return q;
    q = s.indexOf('"', q + 1);
  }
  return s.length - 1;
}
