/**
 * The parser remembers header segments it has seen (compact.ts); a segment is a slice of the
 * bearer token, and a slice can keep the whole string it was cut from alive. This checks, in a
 * heap snapshot, that nothing the token layer keeps holds a token after the request is done.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { parseCompactJws } from '../../../src/token/compact.ts';
import { buildPrincipal } from '../../../src/token/principal.ts';
import { TOKEN_DEFAULTS } from '../../../src/token/config.ts';
import { b64json } from './helpers.ts';

test('a parsed token is not kept alive by the parser or the principal builder', () => {
  const header = b64json({ alg: 'RS256', kid: `retention-${process.pid}` });
  (() => {
    // As extractBearer makes it: a slice of the Authorization header value.
    const value = `Bearer ${header}.${b64json({ iss: 'https://issuer', exp: 1, scope: 'openid a b', aud: 'x' })}.QQ`;
    const r = parseCompactJws(value.slice('Bearer '.length));
    assert.ok(r.ok);
    assert.ok(buildPrincipal(r.jws.unverifiedClaims, 'jwt', 'https://issuer', TOKEN_DEFAULTS.claims).ok);
  })();
  const file = v8.writeHeapSnapshot(path.join(tmpdir(), `fhirgate-retention-${process.pid}.heapsnapshot`));
  try {
    const strings = (JSON.parse(readFileSync(file, 'utf8')) as { strings: string[] }).strings;
    const holding = strings.filter((s) => s.includes(`${header}.`));
    assert.deepEqual(holding, [], 'a string holding the token is still reachable');
  } finally {
    rmSync(file, { force: true });
  }
});
