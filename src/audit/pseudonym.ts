/**
 * Keyed pseudonyms for audit events. Audit logs must let an investigator follow one patient or one
 * user across events ("who looked at this patient?") without the log itself holding the ids: each
 * id is replaced by HMAC-SHA-256(key, kind ‖ 0x00 ‖ id), base64url, cut to 22 characters (132 bits).
 * Whoever holds the key can recompute a pseudonym from a known id to search the log; whoever only
 * holds the log cannot reverse it, nor test guesses (unlike a plain hash, which anyone can compute
 * over the small space of patient ids).
 *
 * The kind is part of the input (domain separation): the same string as a patient id and as a
 * subject gives unrelated pseudonyms, so the two cannot be joined without the key.
 * Ids are encoded as UTF-8, so pseudonyms can be recomputed with any HMAC tool.
 */
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../telemetry/logger.ts';

export type PseudonymKind = 'patient' | 'subject' | 'client';
export type Pseudonymizer = (kind: PseudonymKind, value: string) => string;

/** Shortest key accepted: the HMAC-SHA-256 block is 64 bytes, and 32 bytes gives its full strength. */
export const MIN_PSEUDONYM_KEY_BYTES = 32;
/** Length of a pseudonym in base64url characters (132 bits). */
export const PSEUDONYM_LENGTH = 22;
/** Largest key file read; a key is a few dozen bytes, anything huge is a misconfiguration. */
const MAX_KEY_FILE_BYTES = 4096;

const KINDS: ReadonlySet<string> = new Set<PseudonymKind>(['patient', 'subject', 'client']);

export class PseudonymKeyTooShortError extends Error {
  readonly code = 'PSEUDONYM_KEY_TOO_SHORT';
  constructor(bytes: number) {
    super(`pseudonymization key has ${bytes} bytes; at least ${MIN_PSEUDONYM_KEY_BYTES} are required`);
    this.name = 'PseudonymKeyTooShortError';
  }
}

export class PseudonymKeyUnreadableError extends Error {
  readonly code = 'PSEUDONYM_KEY_UNREADABLE';
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`pseudonymization key file could not be used: ${reason}`, options);
    this.name = 'PseudonymKeyUnreadableError';
  }
}

export function createPseudonymizer(key: Uint8Array): Pseudonymizer {
  if (!(key instanceof Uint8Array)) throw new TypeError('key must be a Uint8Array');
  if (key.byteLength < MIN_PSEUDONYM_KEY_BYTES) throw new PseudonymKeyTooShortError(key.byteLength);
  // A KeyObject holds its own copy: later changes to the caller's buffer do not change pseudonyms.
  const secret: KeyObject = createSecretKey(key);
  // The same subjects and patients recur request after request: a bounded memo saves one HMAC
  // per id per request. It lives only in this process's memory, next to the key itself.
  const memo = new Map<string, string>();
  return (kind, value) => {
    if (!KINDS.has(kind)) throw new TypeError('unknown pseudonym kind');
    if (typeof value !== 'string') throw new TypeError('value must be a string');
    const memoKey = `${kind}\0${value}`;
    const hit = memo.get(memoKey);
    if (hit !== undefined) return hit;
    const out = createHmac('sha256', secret).update(kind, 'utf8').update('\0', 'utf8').update(value, 'utf8').digest('base64url').slice(0, PSEUDONYM_LENGTH);
    if (memo.size >= PSEUDONYM_MEMO_ENTRIES) memo.delete(memo.keys().next().value as string);
    if (value.length <= 256) memo.set(memoKey, out);
    return out;
  };
}

/** Most pseudonyms remembered per process (oldest forgotten first). */
export const PSEUDONYM_MEMO_ENTRIES = 10_000;

/**
 * Key bytes from a file's content. A file that is entirely printable text (e.g. made with
 * `openssl rand -base64 48 > key`) is trimmed of surrounding whitespace, so an editor's trailing
 * newline does not silently change every pseudonym; any other file is used byte for byte.
 */
export function keyFromFileContent(content: Uint8Array): Uint8Array {
  const printable = content.every((b) => (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d);
  if (!printable) return content;
  let start = 0;
  let end = content.length;
  const isSpace = (b: number | undefined): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
  while (start < end && isSpace(content[start])) start++;
  while (end > start && isSpace(content[end - 1])) end--;
  return content.subarray(start, end);
}

export interface PseudonymKeyOptions {
  /** Path of the key file (e.g. a mounted Secret); undefined → a random per-process key. */
  readonly file: string | undefined;
  readonly logger: Logger;
}

/**
 * Loads the pseudonymization key at start-up. A configured key that is missing, unreadable or too
 * short is an error (the process must not start with pseudonyms that silently stop correlating).
 * Without a configured key a random one is generated, with a warning.
 */
export async function loadPseudonymKey(opts: PseudonymKeyOptions): Promise<Uint8Array> {
  if (opts.file === undefined) {
    opts.logger.warn('no pseudonymization key configured: using a random key; audit pseudonyms will not correlate across restarts or replicas');
    return new Uint8Array(randomBytes(MIN_PSEUDONYM_KEY_BYTES));
  }
  let content: Uint8Array;
  try {
    content = await readFile(opts.file);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new PseudonymKeyUnreadableError(typeof code === 'string' ? code : 'read failed', { cause: err });
  }
  if (content.byteLength > MAX_KEY_FILE_BYTES) throw new PseudonymKeyUnreadableError('file is too large to be a key');
  const key = keyFromFileContent(content);
  if (key.byteLength < MIN_PSEUDONYM_KEY_BYTES) throw new PseudonymKeyTooShortError(key.byteLength);
  return key;
}
