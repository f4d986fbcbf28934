import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  MIN_PSEUDONYM_KEY_BYTES,
  PSEUDONYM_LENGTH,
  PseudonymKeyTooShortError,
  PseudonymKeyUnreadableError,
  createPseudonymizer,
  keyFromFileContent,
  loadPseudonymKey,
} from '../../../src/audit/pseudonym.ts';
import { createLogger, silentLogger } from '../../../src/telemetry/logger.ts';

const KEY = new Uint8Array(32).map((_, i) => i + 1);

test('pseudonym = base64url(HMAC-SHA-256(key, kind 0x00 value)) cut to 22 characters', () => {
  const p = createPseudonymizer(KEY);
  const expected = createHmac('sha256', KEY).update('patient\0example-123').digest('base64url').slice(0, 22);
  assert.equal(p('patient', 'example-123'), expected);
  assert.match(p('patient', 'example-123'), /^[A-Za-z0-9_-]{22}$/);
  assert.equal(PSEUDONYM_LENGTH, 22);
});

test('deterministic for the same key; different with another key', () => {
  const a = createPseudonymizer(KEY);
  const b = createPseudonymizer(Uint8Array.from(KEY));
  const other = createPseudonymizer(new Uint8Array(32).fill(7));
  assert.equal(a('subject', 'alice'), b('subject', 'alice'));
  assert.notEqual(a('subject', 'alice'), other('subject', 'alice'));
});

test('the key is copied: changing the caller buffer later does not change pseudonyms', () => {
  const key = Uint8Array.from(KEY);
  const p = createPseudonymizer(key);
  const before = p('patient', 'x');
  key.fill(0);
  assert.equal(p('patient', 'x'), before);
});

test('property: domain separation — the same value under two kinds never collides', () => {
  const p = createPseudonymizer(KEY);
  fc.assert(
    fc.property(fc.string(), (v) => {
      const all = new Set([p('patient', v), p('subject', v), p('client', v)]);
      assert.equal(all.size, 3);
    }),
    { numRuns: 300 },
  );
});

test('property: distinct values give distinct pseudonyms (no truncation collisions in practice)', () => {
  const p = createPseudonymizer(KEY);
  fc.assert(
    fc.property(fc.uniqueArray(fc.string({ maxLength: 40 }), { minLength: 2, maxLength: 50 }), (values) => {
      assert.equal(new Set(values.map((v) => p('patient', v))).size, values.length);
    }),
    { numRuns: 100 },
  );
});

test('keys shorter than 32 bytes are refused; caller mistakes are TypeErrors', () => {
  assert.throws(() => createPseudonymizer(new Uint8Array(31)), PseudonymKeyTooShortError);
  assert.throws(() => createPseudonymizer(new Uint8Array(0)), (e: unknown) => e instanceof PseudonymKeyTooShortError && e.code === 'PSEUDONYM_KEY_TOO_SHORT');
  assert.throws(() => createPseudonymizer('a'.repeat(40) as unknown as Uint8Array), TypeError);
  const p = createPseudonymizer(new Uint8Array(MIN_PSEUDONYM_KEY_BYTES));
  assert.throws(() => p('doctor' as never, 'x'), TypeError);
  assert.throws(() => p('patient', 42 as never), TypeError);
});

test('key files: text keys are trimmed, binary keys are used byte for byte', () => {
  const text = new TextEncoder().encode('  c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==\n');
  assert.equal(new TextDecoder().decode(keyFromFileContent(text)), 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==');
  const binary = Uint8Array.from([0, 1, 2, 0x0a, 255, 0x0a]);
  assert.deepEqual(keyFromFileContent(binary), binary);
});

test('loadPseudonymKey: reads a file, rejects short/missing/huge files, or generates a random key with a warning', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fhirgate-pseudo-'));
  try {
    const good = join(dir, 'good');
    await writeFile(good, 'k'.repeat(48) + '\n');
    const key = await loadPseudonymKey({ file: good, logger: silentLogger });
    assert.equal(key.byteLength, 48);

    const short = join(dir, 'short');
    await writeFile(short, 'k'.repeat(31) + '\n');
    await assert.rejects(loadPseudonymKey({ file: short, logger: silentLogger }), PseudonymKeyTooShortError);

    await assert.rejects(loadPseudonymKey({ file: join(dir, 'missing'), logger: silentLogger }), (e: unknown) => e instanceof PseudonymKeyUnreadableError && /ENOENT/.test(e.message));

    const huge = join(dir, 'huge');
    await writeFile(huge, new Uint8Array(10_000).fill(1));
    await assert.rejects(loadPseudonymKey({ file: huge, logger: silentLogger }), PseudonymKeyUnreadableError);

    const lines: string[] = [];
    const logger = createLogger({ stream: { write: (s: string) => void lines.push(s) } });
    const r1 = await loadPseudonymKey({ file: undefined, logger });
    const r2 = await loadPseudonymKey({ file: undefined, logger });
    assert.equal(r1.byteLength, MIN_PSEUDONYM_KEY_BYTES);
    assert.notDeepEqual(r1, r2);
    assert.equal(lines.length, 2);
    assert.equal((JSON.parse(lines[0] ?? '{}') as { level?: string }).level, 'warn');
    assert.match(lines[0] ?? '', /will not correlate across restarts/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
