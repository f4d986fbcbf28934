/**
 * fhirgate-authz configuration: one file (YAML or JSON), overridable by environment variables and
 * flags, validated with ajv against a closed schema at start-up. A bad config stops the process
 * with a message naming the offending field; nothing is defaulted silently from a typo.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 as Ajv } from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { tokenConfigSchema } from '../token/config.ts';
import type { TokenConfig } from '../token/config.ts';
import { policyDocumentSchema } from '../policy/spec.ts';
import type { FhirAccessPolicyDocument } from '../policy/spec.ts';
import type { ControllerConfig } from './subscriber.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface AuthzConfig {
  readonly listen: {
    /** "host:port" (loopback) or "unix:/absolute/path.sock". */
    readonly grpc: string;
    /** "host:port" for /metrics, /healthz, /readyz. */
    readonly http: string;
    /** When set, the bound addresses are written here as JSON once listening. */
    readonly addressFile?: string;
  };
  readonly auth: TokenConfig;
  /** The FhirAccessPolicy enforced here, inline… */
  readonly policy?: FhirAccessPolicyDocument;
  /** …or read from this YAML/JSON file (the same file `kubectl apply` takes). */
  readonly policyFile?: string;
  /**
   * …or received from fhirgate-controller (policy, issuers, clients, revocations). In this mode the
   * file has no `auth`, `policy` or `policyFile`; parseConfig sets `auth` to `{ issuers: [] }` so the
   * shape stays the same, and the sidecar never builds an Authenticator from it.
   */
  readonly controller?: ControllerConfig;
  readonly body: { readonly maxBytes: number };
  /** Where fhirgate-authz reaches the FHIR server itself, for verify-instance obligations. */
  readonly upstream?: { readonly fhirBaseUrl: string; readonly timeoutMs: number; readonly cacheSeconds: number };
  readonly audit: { readonly sink: 'stdout' | 'file' | 'none'; readonly file?: string; readonly keyFile?: string };
  readonly telemetry: { readonly serviceName: string; readonly otlpEndpoint?: string };
  readonly log: { readonly level: LogLevel };
  readonly shutdown: { readonly graceSeconds: number };
}

const LISTEN_ADDRESS = '^(unix:/[^\\x00]{1,200}|(127\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}|\\[::1\\]|localhost|0\\.0\\.0\\.0|\\[::\\]):[0-9]{1,5})$';
const TCP_ADDRESS = '^(127\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}|\\[::1\\]|localhost|0\\.0\\.0\\.0|\\[::\\]):[0-9]{1,5}$';
const NAME = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';
/** The controller: a loopback "host:port" or a gRPC "dns:///host:port" target. */
const CONTROLLER_ADDRESS = '^((127\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}|\\[::1\\]|localhost):[0-9]{1,5}|dns:///[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?)$';

export const authzConfigSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://fhirgate.io/schemas/authz-config.json',
  type: 'object',
  additionalProperties: false,
  // File mode: auth + exactly one of policy/policyFile. Controller mode: none of them.
  if: { required: ['controller'] },
  then: { not: { anyOf: [{ required: ['auth'] }, { required: ['policy'] }, { required: ['policyFile'] }] } },
  else: { required: ['auth'], oneOf: [{ required: ['policy'] }, { required: ['policyFile'] }] },
  properties: {
    listen: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        grpc: { type: 'string', pattern: LISTEN_ADDRESS, default: '127.0.0.1:9191' },
        http: { type: 'string', pattern: TCP_ADDRESS, default: '127.0.0.1:9090' },
        addressFile: { type: 'string', minLength: 1, maxLength: 4096 },
      },
    },
    auth: tokenConfigSchema,
    policy: policyDocumentSchema,
    policyFile: { type: 'string', minLength: 1, maxLength: 4096 },
    controller: {
      type: 'object',
      additionalProperties: false,
      required: ['address', 'tokenFile'],
      properties: {
        address: { type: 'string', pattern: CONTROLLER_ADDRESS },
        tokenFile: { type: 'string', minLength: 1, maxLength: 4096 },
        snapshotFile: { type: 'string', minLength: 1, maxLength: 4096 },
        fhirBasePath: { type: 'string', maxLength: 256, pattern: '^(/[A-Za-z0-9._~-]+)*/?$' },
        pod: { type: 'string', minLength: 1, maxLength: 253 },
        caFile: { type: 'string', minLength: 1, maxLength: 4096 },
        backoff: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            initialMs: { type: 'integer', minimum: 1, maximum: 60_000, default: 500 },
            maxMs: { type: 'integer', minimum: 1, maximum: 600_000, default: 30_000 },
          },
        },
      },
    },
    upstream: {
      type: 'object',
      additionalProperties: false,
      required: ['fhirBaseUrl'],
      properties: {
        fhirBaseUrl: { type: 'string', maxLength: 2048, pattern: '^https?://[^\\s?#]+$' },
        timeoutMs: { type: 'integer', minimum: 50, maximum: 5000, default: 1000 },
        cacheSeconds: { type: 'integer', minimum: 0, maximum: 600, default: 30 },
      },
    },
    body: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { maxBytes: { type: 'integer', minimum: 0, maximum: 16 * 1024 * 1024, default: 1024 * 1024 } },
    },
    audit: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        sink: { enum: ['stdout', 'file', 'none'], default: 'stdout' },
        file: { type: 'string', minLength: 1, maxLength: 4096 },
        keyFile: { type: 'string', minLength: 1, maxLength: 4096 },
      },
      if: { properties: { sink: { const: 'file' } }, required: ['sink'] },
      then: { required: ['file'] },
    },
    telemetry: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        serviceName: { type: 'string', pattern: NAME, default: 'fhirgate-authz' },
        otlpEndpoint: { type: 'string', pattern: '^https?://[^\\s]{1,2000}$' },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { level: { enum: ['debug', 'info', 'warn', 'error'], default: 'info' } },
    },
    shutdown: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { graceSeconds: { type: 'integer', minimum: 1, maximum: 120, default: 10 } },
    },
  },
} as const;

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  override name = 'ConfigError';
}

let validator: ReturnType<Ajv['compile']> | undefined;

function validate(doc: unknown): ErrorObject[] | null {
  validator ??= new Ajv({ allErrors: true, useDefaults: true, strict: true, strictRequired: false, allowUnionTypes: false }).compile(
    authzConfigSchema,
  );
  return validator(doc) ? null : (validator.errors ?? []);
}

/** Human-readable, field-naming messages, e.g. `/auth/issuers/0/algorithms/1: must be one of …`. */
export function describeErrors(errors: readonly ErrorObject[]): string[] {
  return errors.slice(0, 20).map((e) => {
    const at = e.instancePath === '' ? '(root)' : e.instancePath;
    if (e.keyword === 'additionalProperties') {
      return `${at}: unknown field "${String((e.params as { additionalProperty: string }).additionalProperty)}"`;
    }
    if (e.keyword === 'enum') {
      return `${at}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    return `${at}: ${e.message ?? 'invalid'}`;
  });
}

/** Parse and validate a config document (already-parsed object). Throws ConfigError. */
export function parseConfig(doc: unknown): AuthzConfig {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError('config: must be a mapping');
  const copy = structuredClone(doc);
  const errors = validate(copy);
  if (errors !== null) throw new ConfigError(`config invalid:\n  ${describeErrors(errors).join('\n  ')}`);
  // Controller mode: issuers arrive in bundles; keep the `auth` shape for the record phase.
  if ((copy as { controller?: unknown }).controller !== undefined) (copy as { auth?: unknown }).auth = { issuers: [] };
  return copy as AuthzConfig;
}

export interface ConfigSources {
  readonly file?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly overrides?: { readonly grpc?: string; readonly http?: string; readonly logLevel?: string };
}

/** Read the file (YAML or JSON), apply env (FHIRGATE_LISTEN_GRPC, FHIRGATE_LISTEN_HTTP, FHIRGATE_LOG_LEVEL) then flags. */
export function loadConfig(src: ConfigSources): AuthzConfig {
  let doc: Record<string, unknown> = {};
  if (src.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(src.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`config: cannot read ${src.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    try {
      doc = parseYaml(text, { maxAliasCount: 50, uniqueKeys: true }) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`config: ${src.file} is not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError('config: must be a mapping');
  }
  const env = src.env ?? {};
  const listen = { ...((doc['listen'] as Record<string, unknown> | undefined) ?? {}) };
  const log = { ...((doc['log'] as Record<string, unknown> | undefined) ?? {}) };
  const grpc = src.overrides?.grpc ?? env['FHIRGATE_LISTEN_GRPC'];
  const http = src.overrides?.http ?? env['FHIRGATE_LISTEN_HTTP'];
  const level = src.overrides?.logLevel ?? env['FHIRGATE_LOG_LEVEL'];
  if (grpc !== undefined) listen['grpc'] = grpc;
  if (http !== undefined) listen['http'] = http;
  if (level !== undefined) log['level'] = level;
  return parseConfig({ ...doc, listen, log });
}
