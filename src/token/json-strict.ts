/**
 * JSON parsing for token headers and claim sets. `JSON.parse` silently keeps the last of two
 * members with the same name, so `{"sub":"alice","sub":"admin"}` could mean different things to
 * us and to the issuer's or another verifier's parser (RFC 7515 §5.2 / RFC 8725 §3.9 say reject).
 * This module parses with JSON.parse and then scans the text once to find repeated names.
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
  return hasDuplicateKeys(text) ? undefined : (value as Record<string, unknown>);
}

/**
 * Scans text that JSON.parse has already accepted and reports whether any object repeats a
 * member name (compared after unescaping, so `"a"` and `"\u0061"` collide). Iterative, one pass.
 */
export function hasDuplicateKeys(validJson: string): boolean {
  // One frame per open container: a name set for objects, null for arrays.
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  let i = 0;
  const n = validJson.length;
  while (i < n) {
    const c = validJson.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = stringEnd(validJson, i);
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        const name = JSON.parse(validJson.slice(i, end + 1)) as string;
        if (top.has(name)) return true;
        top.add(name);
        expectKey = false;
      }
      i = end + 1;
      continue;
    }
    if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
    i++;
  }
  return false;
}

/** Index of the closing quote of the string literal starting at `start`. */
function stringEnd(s: string, start: number): number {
  let i = start + 1;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 0x5c /* \ */) i += 2;
    else if (c === 0x22) return i;
    else i++;
  }
  return s.length - 1;
}
