import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../../src/core/clock.ts';
import { createLogger, isLogLevel, silentLogger } from '../../../src/telemetry/logger.ts';
import type { LoggerOptions } from '../../../src/telemetry/logger.ts';

function collector(): { lines: string[]; records: () => Array<Record<string, unknown>>; write: (s: string) => void } {
  const lines: string[] = [];
  return {
    lines,
    write: (s: string) => void lines.push(s),
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

function setup(opts: LoggerOptions = {}) {
  const out = collector();
  const clock = new ManualClock(Date.UTC(2026, 0, 2, 3, 4, 5));
  const logger = createLogger({ stream: out, clock, ...opts });
  return { out, logger };
}

test('one JSON object per line with time, level and msg first', () => {
  const { out, logger } = setup();
  logger.info('jwks refreshed', { issuer: 'hospital', keys: 3 });
  assert.equal(out.lines.length, 1);
  assert.ok(out.lines[0]?.endsWith('\n'));
  assert.equal(out.lines[0]?.indexOf('\n'), out.lines[0]!.length - 1);
  assert.deepEqual(out.records()[0], { time: '2026-01-02T03:04:05.000Z', level: 'info', msg: 'jwks refreshed', issuer: 'hospital', keys: 3 });
  assert.ok(out.lines[0]?.startsWith('{"time":'));
});

test('records below the minimum level are not written', () => {
  const { out, logger } = setup({ level: 'warn' });
  logger.debug('d');
  logger.info('i');
  logger.warn('w');
  logger.error('e');
  assert.deepEqual(out.records().map((r) => r['level']), ['warn', 'error']);
  assert.equal(logger.isLevelEnabled('info'), false);
  assert.equal(logger.isLevelEnabled('error'), true);
});

test('default level is info', () => {
  const { out, logger } = setup();
  logger.debug('hidden');
  logger.info('shown');
  assert.deepEqual(out.records().map((r) => r['msg']), ['shown']);
});

test('unknown levels are rejected at construction', () => {
  assert.throws(() => createLogger({ level: 'verbose' as never }), TypeError);
  assert.ok(isLogLevel('warn'));
  assert.ok(!isLogLevel('trace'));
});

test('child loggers add bindings, nest, and do not affect the parent', () => {
  const { out, logger } = setup();
  const jwks = logger.child({ component: 'jwks' });
  const issuer = jwks.child({ issuer: 'epic' });
  issuer.warn('refresh failed', { attempt: 2 });
  logger.info('plain');
  assert.deepEqual(out.records(), [
    { time: '2026-01-02T03:04:05.000Z', level: 'warn', msg: 'refresh failed', component: 'jwks', issuer: 'epic', attempt: 2 },
    { time: '2026-01-02T03:04:05.000Z', level: 'info', msg: 'plain' },
  ]);
});

test('fields cannot overwrite time, level or msg', () => {
  const { out, logger } = setup();
  logger.info('real', { level: 'error', msg: 'fake', time: 'never' });
  assert.deepEqual(out.records()[0], { time: '2026-01-02T03:04:05.000Z', level: 'info', msg: 'real', level_: 'error', msg_: 'fake', time_: 'never' });
});

test('credentials are redacted in fields, bindings and the message', () => {
  const { out, logger } = setup();
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln';
  logger.child({ cookie: 'session=1' }).info(`token ${jwt} rejected`, {
    headers: { Authorization: 'Bearer opaque-123', 'x-request-id': 'r1' },
    note: 'Bearer opaque-456',
  });
  const line = out.lines[0] ?? '';
  for (const secret of [jwt, 'session=1', 'opaque-123', 'opaque-456']) assert.ok(!line.includes(secret), secret);
  assert.deepEqual(out.records()[0], {
    time: '2026-01-02T03:04:05.000Z',
    level: 'info',
    msg: 'token [REDACTED] rejected',
    cookie: '[REDACTED]',
    headers: { Authorization: '[REDACTED]', 'x-request-id': 'r1' },
    note: 'Bearer [REDACTED]',
  });
});

test('errors: {name, code, message} at info/warn/error, stack only at debug', () => {
  const { out, logger } = setup({ level: 'debug' });
  const err = Object.assign(new TypeError('bad input'), { code: 'E_INPUT' });
  logger.error('failed', { err });
  logger.debug('failed', { err });
  const [atError, atDebug] = out.records();
  assert.deepEqual(atError?.['err'], { name: 'TypeError', code: 'E_INPUT', message: 'bad input' });
  const debugErr = atDebug?.['err'] as Record<string, unknown>;
  assert.equal(debugErr['message'], 'bad input');
  assert.match(String(debugErr['stack']), /^TypeError: bad input\n/);
});

test('huge records are bounded per value and per line', () => {
  const { out, logger } = setup({ maxLineLength: 4096 });
  logger.info('big value', { blob: 'z'.repeat(100_000) });
  assert.ok((out.lines[0]?.length ?? 0) < 4096);
  assert.match(String(out.records()[0]?.['blob']), /…\[truncated 97952 chars\]$/);
  const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, 'q'.repeat(1000)]));
  logger.warn('many fields', many);
  const rec = out.records()[1];
  assert.ok((out.lines[1]?.length ?? 0) <= 4096);
  assert.equal(rec?.['logTruncated'], true);
  assert.equal(rec?.['msg'], 'many fields');
  assert.equal(rec?.['level'], 'warn');
  assert.ok(Number(rec?.['originalLength']) > 4096);
});

test('a throwing stream does not throw into the caller', () => {
  const logger = createLogger({ stream: { write: () => { throw new Error('EPIPE'); } } });
  assert.doesNotThrow(() => logger.error('still fine'));
});

test('silentLogger writes nothing and reports every level disabled', () => {
  assert.equal(silentLogger.isLevelEnabled('error'), false);
  assert.equal(silentLogger.child({ a: 1 }), silentLogger);
  assert.doesNotThrow(() => silentLogger.error('x'));
});

test('property: a secret under a redacted key at any depth of the fields, or a JWT in the message, never reaches the line', () => {
  const keys = ['authorization', 'Cookie', 'set-cookie', 'proxy-authorization', 'token', 'access_token', 'id_token', 'refresh_token', 'client_secret', 'password', 'secret', 'body'];
  const secretArb = fc.string({ unit: fc.constantFrom(...'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'), minLength: 16, maxLength: 24 }).map((s) => `S3CR3T${s}`);
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
      fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 6 }),
      fc.constantFrom(...keys),
      secretArb,
      fc.constantFrom<'debug' | 'info' | 'warn' | 'error'>('debug', 'info', 'warn', 'error'),
      (base, path, key, secret, level) => {
        let nested: Record<string, unknown> = { [key]: secret };
        for (const segment of path) nested = { [`n_${segment}`]: nested };
        const jwt = `eyJhbGciOiJFUzI1NiJ9.${Buffer.from(secret).toString('base64url')}.${secret}`;
        const { out, logger } = setup({ level: 'debug' });
        logger.child({ ctx: nested })[level](`check for ${jwt}`, { ...base, deep: nested });
        const line = out.lines[0] ?? '';
        assert.ok(line.length > 0);
        assert.ok(!line.includes(secret), line);
      },
    ),
    { numRuns: 300 },
  );
});
