/**
 * Envoy's JSON access log for the FHIR listener. Every field is chosen so that the log can be
 * shipped anywhere without becoming a PHI or credential store:
 *   - the path is logged WITHOUT its query string (FHIR search parameters carry patient names,
 *     birth dates, identifiers…), taken from the original path when a rewrite happened;
 *   - no request headers other than the request id (never Authorization, Cookie, Referer or
 *     User-Agent, which can hold tokens or query strings);
 *   - the ext_authz outcome comes from the response code details and the sidecar's dynamic
 *     metadata (reason code and route class only — values fhirgate-authz guarantees are safe).
 */

/** Namespace under which Envoy stores ext_authz dynamic metadata from the sidecar. */
export const EXT_AUTHZ_METADATA_NAMESPACE = 'envoy.filters.http.ext_authz';

/** The JSON log line: field name → Envoy command operator. */
export const ACCESS_LOG_FORMAT: Readonly<Record<string, string>> = Object.freeze({
  start_time: '%START_TIME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ_WITHOUT_QUERY(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  status: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  duration_ms: '%DURATION%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  request_id: '%REQ(X-REQUEST-ID)%',
  downstream_remote: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%',
  upstream_host: '%UPSTREAM_HOST%',
  authz_reason: `%DYNAMIC_METADATA(${EXT_AUTHZ_METADATA_NAMESPACE}:reason)%`,
  authz_rule: `%DYNAMIC_METADATA(${EXT_AUTHZ_METADATA_NAMESPACE}:rule)%`,
});

/**
 * One access logger: to a file when `path` is given, to Envoy's stdout otherwise. A file log is
 * what the e2e tests grep for leaked query strings and tokens.
 */
export function accessLogger(path: string | undefined): Record<string, unknown> {
  const logFormat = {
    json_format: { ...ACCESS_LOG_FORMAT },
    // REQ_WITHOUT_QUERY is an extension command operator and must be enabled explicitly.
    formatters: [
      {
        name: 'envoy.formatter.req_without_query',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery' },
      },
    ],
  };
  if (path === undefined) {
    return {
      name: 'envoy.access_loggers.stdout',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog',
        log_format: logFormat,
      },
    };
  }
  if (path === '' || path.includes('\0')) throw new TypeError('accessLogPath must be a file path');
  return {
    name: 'envoy.access_loggers.file',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
      path,
      log_format: logFormat,
    },
  };
}
