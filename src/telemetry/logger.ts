/**
 * A small structured logger: one JSON object per line, one write call per record, to a stream (stderr
 * by default, where Kubernetes collects it). Every record goes through redaction (redact.ts), so a
 * call site that passes a header map, a token or an error with a token in its message still logs
 * nothing secret. Errors are shown as {name, code, message}; stacks only at debug level, because
 * stacks reveal code layout and, through messages, sometimes data.
 *
 * Logging must never take down the request path: serialization and stream failures are swallowed.
 */
import { systemClock } from '../core/clock.ts';
import type { Clock } from '../core/clock.ts';
import { DEFAULT_REDACT_LIMITS, plainObject, redactString, redactValue } from './redact.ts';
import type { RedactLimits } from './redact.ts';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const LEVEL_RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

export function isLogLevel(s: string): s is LogLevel {
  return Object.hasOwn(LEVEL_RANK, s);
}

/** Structured fields of one record; values may be anything, they are redacted and bounded. */
export type LogFields = Readonly<Record<string, unknown>>;

/** The part of a Node stream the logger needs; `process.stderr` and test collectors both fit. */
export interface LogStream {
  write(chunk: string): unknown;
}

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Whether records at this level are written (use to skip building expensive fields). */
  isLevelEnabled(level: LogLevel): boolean;
  /** A logger that adds `bindings` to every record (e.g. {component: 'jwks'}). */
  child(bindings: LogFields): Logger;
}

export interface LoggerOptions {
  /** Minimum level written; default 'info'. */
  readonly level?: LogLevel;
  /** Default process.stderr. */
  readonly stream?: LogStream;
  readonly clock?: Clock;
  /** Fields on every record. */
  readonly bindings?: LogFields;
  /** Per-value bounds; see redact.ts. */
  readonly limits?: Partial<RedactLimits>;
  /** Upper bound for one line in UTF-16 code units (default 16384); longer records are replaced. */
  readonly maxLineLength?: number;
}

/** Keys every record starts with; fields of the same name are kept under `<name>_`. */
const RESERVED = new Set(['time', 'level', 'msg']);

interface LoggerState {
  readonly minRank: number;
  readonly stream: LogStream;
  readonly clock: Clock;
  readonly limits: RedactLimits;
  readonly maxLineLength: number;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  if (!isLogLevel(level)) throw new TypeError(`unknown log level: ${String(level)}`);
  const maxLineLength = opts.maxLineLength ?? 16_384;
  if (!Number.isInteger(maxLineLength) || maxLineLength < 256) throw new TypeError('maxLineLength must be an integer ≥ 256');
  const state: LoggerState = {
    minRank: LEVEL_RANK[level],
    stream: opts.stream ?? process.stderr,
    clock: opts.clock ?? systemClock,
    limits: { ...DEFAULT_REDACT_LIMITS, ...opts.limits },
    maxLineLength,
  };
  return makeLogger(state, [opts.bindings ?? {}]);
}

/** A logger that writes nothing; for tests and for callers that were given no logger. */
export const silentLogger: Logger = Object.freeze({
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  isLevelEnabled: () => false,
  child: () => silentLogger,
});

function makeLogger(state: LoggerState, bindings: readonly LogFields[]): Logger {
  const log = (level: LogLevel, msg: string, fields: LogFields | undefined): void => {
    if (LEVEL_RANK[level] < state.minRank) return;
    try {
      state.stream.write(formatLine(state, level, msg, bindings, fields) + '\n');
    } catch {
      // A broken stream must not turn into a failed authorization check.
    }
  };
  return {
    debug: (msg, fields) => log('debug', msg, fields),
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
    isLevelEnabled: (level) => LEVEL_RANK[level] >= state.minRank,
    child: (more) => makeLogger(state, [...bindings, more]),
  };
}

function formatLine(
  state: LoggerState,
  level: LogLevel,
  msg: string,
  bindings: readonly LogFields[],
  fields: LogFields | undefined,
): string {
  const time = new Date(state.clock.now()).toISOString();
  const safeMsg = redactString(truncateMsg(String(msg), state.limits.maxStringLength));
  const record = plainObject();
  record['time'] = time;
  record['level'] = level;
  record['msg'] = safeMsg;
  const opts = { ...state.limits, includeStack: level === 'debug' };
  for (const group of fields === undefined ? bindings : [...bindings, fields]) {
    const safe = redactValue(group, opts);
    if (safe === null || typeof safe !== 'object' || Array.isArray(safe)) continue;
    for (const [k, v] of Object.entries(safe)) record[RESERVED.has(k) ? `${k}_` : k] = v;
  }
  const line = JSON.stringify(record);
  if (line.length <= state.maxLineLength) return line;
  // Too big even after per-value bounds (many large fields): keep what identifies the event.
  return JSON.stringify({ time, level, msg: truncateMsg(safeMsg, 1024), logTruncated: true, originalLength: line.length });
}

function truncateMsg(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…[truncated ${s.length - max} chars]`;
}
