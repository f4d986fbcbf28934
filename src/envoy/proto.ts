/**
 * Loads fhirgate's .proto declarations once, with fixed loader options, and exposes the service
 * definitions the sidecar serves. Field names stay snake_case (keepCase) so the code reads like
 * Envoy's API reference. These definitions (protobufjs through @grpc/proto-loader) serve gRPC
 * clients — tests, benchmarks, the grpc-js no-op baseline — and the health service; the sidecar's
 * own Check server (src/authz/grpc-server.ts) uses the hand-written codec (./codec.ts) instead.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_ROOT = fileURLToPath(new URL('../../proto/', import.meta.url));

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: false,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

interface LoadedServices {
  readonly authorization: grpc.ServiceDefinition;
  readonly health: grpc.ServiceDefinition;
}

let loaded: LoadedServices | undefined;

function service(pkg: grpc.GrpcObject, path: string): grpc.ServiceDefinition {
  let node: unknown = pkg;
  for (const part of path.split('.')) {
    node = (node as Record<string, unknown>)[part];
  }
  const ctor = node as { service?: grpc.ServiceDefinition } | undefined;
  if (ctor?.service === undefined) throw new Error(`proto service ${path} not found`);
  return ctor.service;
}

/** The service definitions, loaded on first use and cached for the life of the process. */
export function services(): LoadedServices {
  if (loaded !== undefined) return loaded;
  const definition = protoLoader.loadSync(
    ['envoy/service/auth/v3/external_auth.proto', 'grpc/health/v1/health.proto'],
    LOADER_OPTIONS,
  );
  const pkg = grpc.loadPackageDefinition(definition);
  loaded = {
    authorization: service(pkg, 'envoy.service.auth.v3.Authorization'),
    health: service(pkg, 'grpc.health.v1.Health'),
  };
  return loaded;
}

const extra = new Map<string, grpc.ServiceDefinition>();

/**
 * Any other service declared under proto/ (e.g. fhirgate.distribution.v1.PolicyDistribution),
 * loaded with the same fixed options on first use and cached. `file` is relative to proto/,
 * `path` the fully qualified service name.
 */
export function loadService(file: string, path: string): grpc.ServiceDefinition {
  const key = `${file}#${path}`;
  const cached = extra.get(key);
  if (cached !== undefined) return cached;
  const def = service(grpc.loadPackageDefinition(protoLoader.loadSync([file], LOADER_OPTIONS)), path);
  extra.set(key, def);
  return def;
}

/** A client constructor for tests and benchmarks. */
export function clientConstructor(name: 'authorization' | 'health'): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(services()[name], name);
}
