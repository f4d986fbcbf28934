/**
 * Redaction for log records. fhirgate sits in front of hospital FHIR servers, so anything that is
 * logged may end up in a shared log pipeline: credentials and request bodies must never get there,
 * whoever calls the logger and whatever they pass. Redaction is therefore applied by the logger
 * itself, to every record, rather than trusted to each call site.
 *
 * Two independent nets:
 *  - by key: a property whose name is a known secret carrier (authorization, cookie, token, body …)
 *    is replaced whole, at any depth, whatever its type;
 *  - by shape: any string that contains something that looks like a JWT or an HTTP credential
 *    ("Bearer …", "Basic …") has that part replaced, wherever the string is.
 *
 * The same pass turns arbitrary values into plain JSON (cycles, Maps, errors, bigints, byte
 * arrays) and bounds their size, so one huge or hostile value cannot flood the log.
 */

export const REDACTED = '[REDACTED]';

/**
 * Key names replaced whole, compared after lower-casing and dropping '-' and '_', so that
 * `Set-Cookie`, `set_cookie`, `setCookie`, `ACCESS_TOKEN` and `accessToken` all match.
 */
const REDACTED_KEYS: ReadonlySet<string> = new Set(
  [
    'authorization',
    'proxy-authorization',
    'cookie',
    'set-cookie',
    'token',
    'access_token',
    'id_token',
    'refresh_token',
    'client_secret',
    'client_assertion',
    'password',
    'passwd',
    'secret',
    'private_key',
    'api_key',
    'apikey',
    'x-api-key',
    'body',
  ].map(normalizeKey),
);

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}

/** True when a property with this name is always redacted. */
export function isRedactedKey(key: string): boolean {
  return REDACTED_KEYS.has(normalizeKey(key));
}

/** base64url alphabet plus '=' (tolerated padding). */
const B64URL = /[A-Za-z0-9_=-]/;

/**
 * Replaces every JWT-looking run (JWS or JWE). A JWT starts with a base64url JSON header, i.e.
 * `eyJ`; we redact from `eyJ` through every following base64url/dot character once at least one
 * dot follows the header run, which also catches a token cut short by truncation (its header alone
 * carries no secret). A hand-written scan rather than a regex: linear time even on hostile input
 * such as "eyJeyJeyJ…", where a backtracking regex would be quadratic.
 */
function redactJwts(s: string): string {
  let out = '';
  let copied = 0;
  let from = 0;
  for (;;) {
    const start = s.indexOf('eyJ', from);
    if (start < 0) break;
    let i = start + 3;
    while (i < s.length && B64URL.test(s.charAt(i))) i++;
    if (s.charAt(i) !== '.') {
      // No dot after this header run: no 'eyJ' inside the run can have one either.
      from = i;
      continue;
    }
    while (i < s.length && (s.charAt(i) === '.' || B64URL.test(s.charAt(i)))) i++;
    out += s.slice(copied, start) + REDACTED;
    copied = i;
    from = i;
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/** A credential passed as a query or form parameter (`access_token=…` in a logged URL or body). */
const CREDENTIAL_PARAM = /\b(access_token|id_token|refresh_token|client_secret|client_assertion|password)=[^&\s"']+/gi;
/** An HTTP credential as it appears in an Authorization header value. */
const HTTP_CREDENTIAL = /\b(Bearer|Basic|DPoP|Negotiate)(\s+)[^\s"',;]+/gi;

/** Redact JWT-looking substrings and HTTP credentials inside one string. */
export function redactString(s: string): string {
  // Cheap pre-checks keep the common case (no credential) free of regex replacement work.
  let out = s;
  if (out.includes('eyJ')) out = redactJwts(out);
  if (out.includes('=')) out = out.replace(CREDENTIAL_PARAM, (_m, name: string) => `${name}=${REDACTED}`);
  if (/bearer|basic|dpop|negotiate/i.test(out)) {
    out = out.replace(HTTP_CREDENTIAL, (_m, scheme: string, space: string) => `${scheme}${space}${REDACTED}`);
  }
  return out;
}

export interface RedactLimits {
  /** Nesting depth below which values are replaced by a marker. */
  readonly maxDepth: number;
  /** Longest string kept (in UTF-16 code units); longer ones are cut with a marker. */
  readonly maxStringLength: number;
  /** Most array items / Map or Set entries / object keys kept per container. */
  readonly maxItems: number;
}

export const DEFAULT_REDACT_LIMITS: RedactLimits = Object.freeze({ maxDepth: 8, maxStringLength: 2048, maxItems: 64 });

export interface RedactOptions extends RedactLimits {
  /** Include `stack` (and `cause`) for errors; only at debug level. */
  readonly includeStack: boolean;
}

/** JSON-safe value produced by {@link redactValue}. */
export type SafeJson = null | boolean | number | string | SafeJson[] | { [key: string]: SafeJson };

/**
 * Turns any value into redacted, bounded, plain JSON. Never throws: getters that throw, proxies
 * and cycles all end up as markers.
 */
export function redactValue(value: unknown, opts: RedactOptions): SafeJson {
  return walk(value, opts, 0, new Set());
}

/**
 * A prototype-less object: a hostile key such as `__proto__` then becomes an ordinary property
 * instead of changing the object's prototype (and silently disappearing from the output).
 */
export function plainObject(): { [key: string]: SafeJson } {
  return Object.create(null) as { [key: string]: SafeJson };
}

function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  return `${s.slice(0, max)}…[truncated ${s.length - max} chars]`;
}

function safeString(s: string, opts: RedactOptions): string {
  // Truncate first: this bounds the scanning work, and a cut-off JWT is still recognized.
  return redactString(truncate(s, opts.maxStringLength));
}

function walk(value: unknown, opts: RedactOptions, depth: number, ancestors: Set<object>): SafeJson {
  switch (typeof value) {
    case 'string':
      return safeString(value, opts);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'undefined':
      return null;
    case 'symbol':
      return '[symbol]';
    case 'function':
      return '[function]';
  }
  if (value === null) return null;
  const obj = value as object;
  if (ancestors.has(obj)) return '[circular]';
  if (depth >= opts.maxDepth) return '[depth limit]';
  ancestors.add(obj);
  try {
    return walkObject(obj, opts, depth, ancestors);
  } catch {
    return '[unserializable]';
  } finally {
    ancestors.delete(obj);
  }
}

function walkObject(obj: object, opts: RedactOptions, depth: number, ancestors: Set<object>): SafeJson {
  if (obj instanceof Error) return walkError(obj, opts, depth, ancestors);
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString();
  // Byte payloads are bodies or key material: never their content.
  if (ArrayBuffer.isView(obj)) return `[${obj.byteLength} bytes]`;
  if (obj instanceof ArrayBuffer) return `[${obj.byteLength} bytes]`;
  // A URL's query can carry access_token=… or patient ids; keep only origin and path.
  if (obj instanceof URL) return safeString(`${obj.origin}${obj.pathname}`, opts);
  if (Array.isArray(obj)) return walkList(obj, obj.length, opts, depth, ancestors);
  if (obj instanceof Set) return walkList(obj, obj.size, opts, depth, ancestors);
  if (obj instanceof Map) return walkEntries(obj.entries(), obj.size, opts, depth, ancestors);
  return walkEntries(objectEntries(obj), Object.keys(obj).length, opts, depth, ancestors);
}

function* objectEntries(obj: object): Generator<[string, unknown]> {
  for (const key of Object.keys(obj)) yield [key, (obj as Record<string, unknown>)[key]];
}

function walkList(items: Iterable<unknown>, size: number, opts: RedactOptions, depth: number, ancestors: Set<object>): SafeJson {
  const out: SafeJson[] = [];
  for (const item of items) {
    if (out.length >= opts.maxItems) {
      out.push(`[${size - opts.maxItems} more items]`);
      break;
    }
    out.push(walk(item, opts, depth + 1, ancestors));
  }
  return out;
}

function walkEntries(
  entries: Iterable<[unknown, unknown]>,
  size: number,
  opts: RedactOptions,
  depth: number,
  ancestors: Set<object>,
): SafeJson {
  const out = plainObject();
  let kept = 0;
  for (const [rawKey, v] of entries) {
    if (kept >= opts.maxItems) {
      out['[more keys]'] = size - opts.maxItems;
      break;
    }
    const key = typeof rawKey === 'string' ? rawKey : String(rawKey);
    const safeKey = safeString(key, opts);
    out[safeKey] = isRedactedKey(key) ? REDACTED : walk(v, opts, depth + 1, ancestors);
    kept++;
  }
  return out;
}

function walkError(err: Error, opts: RedactOptions, depth: number, ancestors: Set<object>): SafeJson {
  const out = plainObject();
  out['name'] = safeString(String(err.name), opts);
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out['code'] = typeof code === 'string' ? safeString(code, opts) : code;
  out['message'] = safeString(String(err.message), opts);
  if (opts.includeStack) {
    if (typeof err.stack === 'string') out['stack'] = safeString(err.stack, opts);
    if (err.cause !== undefined) out['cause'] = walk(err.cause, opts, depth + 1, ancestors);
  }
  return out;
}
