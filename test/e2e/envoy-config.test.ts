/**
 * The generated bootstrap against the real Envoy: `envoy --mode validate` accepts it in every
 * shape we ship (plain, TLS, mTLS, Unix-socket sidecar, tracing), and a live listener with mTLS
 * refuses old TLS versions and clients without a certificate. Certificates come from the openssl
 * CLI into a temp directory.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { generateBootstrap } from '../../src/envoy/bootstrap.ts';
import type { BootstrapOptions } from '../../src/envoy/bootstrap.ts';
import { generateSdsFiles } from '../../src/envoy/bootstrap-tls.ts';
import type { DownstreamTlsOptions } from '../../src/envoy/bootstrap-tls.ts';
import type { ManagedProcess } from '../../src/cli/dev/child.ts';
import { startEnvoy } from '../../src/cli/dev/envoy-process.ts';
import { resolveEnvoyBin } from '../../src/cli/dev/stack.ts';

let dir: string;
let envoyBin: string;
const certDir = (): string => path.join(dir, 'certs');

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: certDir(), stdio: 'pipe' });
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all P-256. */
function makeCertificates(): void {
  mkdirSync(certDir(), { recursive: true });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=fhirgate-test-ca', '-days', '2');
  for (const [name, cn, ext] of [
    ['tls', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'],
    ['client', 'demo-partner-system', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    writeFileSync(path.join(certDir(), `${name}.ext`), `${ext}\n`);
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  }
}

function baseOptions(): BootstrapOptions {
  return {
    listener: { address: '127.0.0.1', port: 0 },
    upstream: { host: '127.0.0.1', port: 9 },
    authz: { target: { kind: 'tcp', host: '127.0.0.1', port: 9 } },
    admin: { port: 0 },
    accessLogPath: path.join(dir, 'access.log'),
  };
}

/** Write the bootstrap (and SDS files) into a fresh sub-directory; returns the bootstrap path. */
function writeConfig(name: string, opts: BootstrapOptions): string {
  const sub = path.join(dir, name);
  mkdirSync(sub, { recursive: true });
  if (opts.tls !== undefined) {
    mkdirSync(opts.tls.sdsDir, { recursive: true });
    for (const [file, doc] of Object.entries(generateSdsFiles(opts.tls))) {
      writeFileSync(path.join(opts.tls.sdsDir, file), JSON.stringify(doc));
    }
  }
  const file = path.join(sub, 'envoy.json');
  writeFileSync(file, JSON.stringify(generateBootstrap(opts), null, 2));
  return file;
}

function validate(file: string): { ok: boolean; output: string } {
  try {
    const out = execFileSync(envoyBin, ['--mode', 'validate', '-c', file, '--log-level', 'warn', '--use-dynamic-base-id'], {
      encoding: 'utf8',
      stdio: 'pipe',
      timeout: 60_000,
    });
    return { ok: true, output: out };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'fhirgate-envoy-'));
  envoyBin = resolveEnvoyBin();
  makeCertificates();
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('envoy --mode validate accepts the generated bootstrap', () => {
  const tlsOpts = (sds: string, extra: Partial<DownstreamTlsOptions> = {}): DownstreamTlsOptions => ({
    certDir: certDir(),
    sdsDir: path.join(dir, sds),
    ...extra,
  });

  const cases: [string, () => BootstrapOptions][] = [
    ['plain HTTP', () => baseOptions()],
    ['TLS', () => ({ ...baseOptions(), tls: tlsOpts('sds-tls') })],
    ['mTLS', () => ({ ...baseOptions(), tls: tlsOpts('sds-mtls', { clientCaFile: 'ca.crt' }) })],
    ['Unix-socket sidecar, tracing, stdout log', () => {
      const { accessLogPath: _unused, ...rest } = baseOptions();
      return {
        ...rest,
        authz: { target: { kind: 'unix', path: path.join(dir, 'authz.sock') }, timeoutMs: 100, maxRequestBodyBytes: 1 << 20 },
        tracing: { host: '127.0.0.1', port: 4317, samplingPercent: 10 },
        fhirBasePath: '/r4',
        forwardAuthorization: false,
      };
    }],
  ];
  for (const [name, opts] of cases) {
    it(name, () => {
      const result = validate(writeConfig(name.replace(/\W+/g, '-'), opts()));
      assert.ok(result.ok, result.output);
      assert.match(result.output, /OK/);
    });
  }

  it('rejects a bootstrap whose SDS files are missing (so the check is real)', () => {
    const opts: BootstrapOptions = { ...baseOptions(), tls: tlsOpts('sds-missing') };
    const file = path.join(dir, 'missing.json');
    writeFileSync(file, JSON.stringify(generateBootstrap(opts)));
    assert.equal(validate(file).ok, false);
  });
});

describe('a live mTLS listener', () => {
  let envoy: ManagedProcess;
  let port = 0;

  before(async () => {
    const opts: BootstrapOptions = {
      ...baseOptions(),
      tls: { certDir: certDir(), sdsDir: path.join(dir, 'sds-live'), clientCaFile: 'ca.crt' },
    };
    writeConfig('live', opts);
    const started = await startEnvoy({ name: 'envoy-live', bin: envoyBin, bootstrap: generateBootstrap(opts), dir: path.join(dir, 'live'), timeoutMs: 20_000 });
    envoy = started.proc;
    port = started.port;
  });
  after(async () => {
    await envoy?.stop();
  });

  /** Handshake outcome: the negotiated protocol, or the error code. */
  function handshake(opts: tls.ConnectionOptions): Promise<string> {
    return new Promise((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(path.join(certDir(), 'ca.crt')), ...opts });
      socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
      socket.once('secureConnect', () => {
        // With TLS 1.3 a missing client certificate is reported after the handshake: write a
        // request and wait for an answer or an alert.
        socket.write('GET /fhir/metadata HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n');
        let data = '';
        socket.on('data', (d: Buffer) => (data += d.toString('utf8')));
        socket.once('end', () => resolve(data.startsWith('HTTP/1.1') ? `ok:${socket.getProtocol() ?? ''}` : 'closed'));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(`error:${err.code ?? err.message}`));
    });
  }

  it('completes a TLS handshake with a client certificate (and Envoy answers over it)', async () => {
    const result = await handshake({
      cert: readFileSync(path.join(certDir(), 'client.crt')),
      key: readFileSync(path.join(certDir(), 'client.key')),
    });
    assert.match(result, /^ok:TLSv1\.[23]$/);
  });

  it('refuses a client without a certificate', async () => {
    const result = await handshake({});
    assert.doesNotMatch(result, /^ok/);
  });

  it('refuses TLS 1.1', async () => {
    const result = await handshake({
      minVersion: 'TLSv1.1',
      maxVersion: 'TLSv1.1',
      cert: readFileSync(path.join(certDir(), 'client.crt')),
      key: readFileSync(path.join(certDir(), 'client.key')),
    });
    assert.match(result, /^error:/);
  });
});
