/**
 * Downstream TLS for the Envoy listener: TLS 1.2+ with ECDHE-only AEAD suites, optional mTLS, and
 * certificates loaded through file-based SDS so that an atomic swap of the certificate directory
 * (Kubernetes updates mounted Secrets by re-pointing a `..data` symlink) is picked up without a
 * restart and without Envoy ever reading a new certificate together with an old key.
 *
 * Two layers of files are involved:
 *   - the SDS resource files (`<sdsDir>/server-cert.json`, `<sdsDir>/client-ca.json`), written by
 *     `generateSdsFiles` next to the bootstrap; the bootstrap points at them with
 *     `path_config_source` + `watched_directory` on `sdsDir`;
 *   - the PEM files themselves, named by the SDS resources, with `watched_directory` on `certDir`
 *     so the certificate and key are re-read together when that directory changes.
 */
import path from 'node:path';

export interface DownstreamTlsOptions {
  /** Directory holding the PEM files (e.g. the mounted Secret). Absolute. */
  readonly certDir: string;
  /** Server certificate chain file name inside certDir. Default `tls.crt`. */
  readonly certFile?: string;
  /** Server private key file name inside certDir. Default `tls.key`. */
  readonly keyFile?: string;
  /** CA bundle file name inside certDir used to verify client certificates; enables mTLS. */
  readonly clientCaFile?: string;
  /** Reject connections without a verified client certificate. Default: true when clientCaFile is set. */
  readonly requireClientCertificate?: boolean;
  /** Directory the SDS resource files are written to (see generateSdsFiles). Absolute. */
  readonly sdsDir: string;
}

/** Secret names shared by the bootstrap references and the SDS resource files. */
export const SERVER_CERT_SECRET = 'fhirgate_server_cert';
export const CLIENT_CA_SECRET = 'fhirgate_client_ca';
const SERVER_CERT_SDS_FILE = 'server-cert.json';
const CLIENT_CA_SDS_FILE = 'client-ca.json';

/**
 * ECDHE key exchange with AEAD ciphers only (forward secrecy, no CBC, no RSA key transport). These
 * apply to TLS 1.2; TLS 1.3 suites are fixed by BoringSSL and are all AEAD with (EC)DHE.
 */
export const TLS12_CIPHER_SUITES: readonly string[] = Object.freeze([
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
]);

const ECDH_CURVES: readonly string[] = Object.freeze(['X25519', 'P-256']);

function checkTls(tls: DownstreamTlsOptions): void {
  for (const [name, dir] of [['certDir', tls.certDir], ['sdsDir', tls.sdsDir]] as const) {
    if (typeof dir !== 'string' || !path.isAbsolute(dir)) {
      throw new TypeError(`tls.${name} must be an absolute directory path`);
    }
  }
  for (const [name, file] of [
    ['certFile', tls.certFile],
    ['keyFile', tls.keyFile],
    ['clientCaFile', tls.clientCaFile],
  ] as const) {
    if (file !== undefined && (file === '' || file.includes('/') || file.includes('\0'))) {
      throw new TypeError(`tls.${name} must be a plain file name inside tls.certDir`);
    }
  }
  if (tls.requireClientCertificate === true && tls.clientCaFile === undefined) {
    throw new TypeError('tls.requireClientCertificate needs tls.clientCaFile to verify client certificates against');
  }
}

function sdsConfig(tls: DownstreamTlsOptions, file: string): Record<string, unknown> {
  return {
    path_config_source: {
      path: path.join(tls.sdsDir, file),
      watched_directory: { path: tls.sdsDir },
    },
    resource_api_version: 'V3',
  };
}

/** The listener's `transport_socket` for downstream TLS (and mTLS when a client CA is given). */
export function downstreamTransportSocket(tls: DownstreamTlsOptions): Record<string, unknown> {
  checkTls(tls);
  const mtls = tls.clientCaFile !== undefined;
  const common: Record<string, unknown> = {
    tls_params: {
      tls_minimum_protocol_version: 'TLSv1_2',
      tls_maximum_protocol_version: 'TLSv1_3',
      cipher_suites: [...TLS12_CIPHER_SUITES],
      ecdh_curves: [...ECDH_CURVES],
    },
    tls_certificate_sds_secret_configs: [{ name: SERVER_CERT_SECRET, sds_config: sdsConfig(tls, SERVER_CERT_SDS_FILE) }],
    alpn_protocols: ['h2', 'http/1.1'],
  };
  if (mtls) {
    common['validation_context_sds_secret_config'] = {
      name: CLIENT_CA_SECRET,
      sds_config: sdsConfig(tls, CLIENT_CA_SDS_FILE),
    };
  }
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      common_tls_context: common,
      require_client_certificate: mtls && tls.requireClientCertificate !== false,
      // Session tickets would need a shared, rotated ticket key across replicas; stateless
      // resumption is not worth that operational risk for an authorization gateway.
      disable_stateless_session_resumption: true,
    },
  };
}

/**
 * The SDS resource files the bootstrap's `path_config_source` entries point at, as
 * file name (inside tls.sdsDir) → JSON document. Write them before starting Envoy.
 */
export function generateSdsFiles(tls: DownstreamTlsOptions): Record<string, unknown> {
  checkTls(tls);
  const watched = { path: tls.certDir };
  const files: Record<string, unknown> = {
    [SERVER_CERT_SDS_FILE]: {
      resources: [
        {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
          name: SERVER_CERT_SECRET,
          tls_certificate: {
            certificate_chain: { filename: path.join(tls.certDir, tls.certFile ?? 'tls.crt') },
            private_key: { filename: path.join(tls.certDir, tls.keyFile ?? 'tls.key') },
            watched_directory: watched,
          },
        },
      ],
    },
  };
  if (tls.clientCaFile !== undefined) {
    files[CLIENT_CA_SDS_FILE] = {
      resources: [
        {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
          name: CLIENT_CA_SECRET,
          validation_context: {
            trusted_ca: { filename: path.join(tls.certDir, tls.clientCaFile) },
            watched_directory: watched,
          },
        },
      ],
    };
  }
  return files;
}
