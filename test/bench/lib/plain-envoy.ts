/**
 * The comparison arms of the Envoy benchmark, derived from the very bootstrap the fhirgate arm
 * runs (from src/envoy/bootstrap.ts, as the dev stack generated it), each on its own admin and
 * listener ports with its own access log:
 *   - "Envoy alone": only the ext_authz filter taken out;
 *   - "Envoy + ext_authz → no-op": the ext_authz cluster pointed at the no-op grpc-js server.
 * Everything else — path normalization, header caps, security headers, buffer filter, access
 * logging — stays, so the arms differ in the authorization call and nothing else.
 */
import { AUTHZ_CLUSTER } from '../../../src/envoy/bootstrap.ts';
import type { EnvoyBootstrap } from '../../../src/envoy/bootstrap.ts';

const EXT_AUTHZ = 'envoy.filters.http.ext_authz';
const FILE_LOGGER = 'envoy.access_loggers.file';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Visit every object in a JSON tree (bounded by the tree's size; no cycles in JSON). */
function walk(node: unknown, visit: (o: Json) => void): void {
  if (Array.isArray(node)) {
    for (const x of node) walk(x, visit);
  } else if (isObject(node)) {
    visit(node);
    for (const v of Object.values(node)) walk(v, visit);
  }
}

/** A copy of `bootstrap` on ephemeral listener and admin ports, logging to `accessLogPath`. */
function sibling(bootstrap: EnvoyBootstrap, accessLogPath: string): Json {
  const copy = structuredClone(bootstrap) as Json;
  walk(copy, (o) => {
    if (o['name'] === FILE_LOGGER && isObject(o['typed_config'])) o['typed_config']['path'] = accessLogPath;
  });
  const admin = copy['admin'];
  if (isObject(admin)) walk(admin, (o) => void ('port_value' in o && (o['port_value'] = 0)));
  const listeners = (copy['static_resources'] as Json | undefined)?.['listeners'];
  if (Array.isArray(listeners)) {
    for (const l of listeners) if (isObject(l) && isObject(l['address'])) walk(l['address'], (o) => void ('port_value' in o && (o['port_value'] = 0)));
  }
  return copy;
}

/** "Envoy alone": `bootstrap` without its ext_authz filter (see `sibling` for ports and log). */
export function withoutExtAuthz(bootstrap: EnvoyBootstrap, accessLogPath: string): EnvoyBootstrap {
  const copy = sibling(bootstrap, accessLogPath);
  let removed = 0;
  walk(copy, (o) => {
    const filters = o['http_filters'];
    if (Array.isArray(filters)) {
      const kept = filters.filter((f) => !(isObject(f) && f['name'] === EXT_AUTHZ));
      removed += filters.length - kept.length;
      o['http_filters'] = kept;
    }
  });
  if (removed !== 1) throw new Error(`expected exactly one ext_authz filter in the bootstrap, found ${removed}`);
  return copy;
}

/** `bootstrap` with its ext_authz cluster sending Checks to 127.0.0.1:`port` instead. */
export function withAuthzPort(bootstrap: EnvoyBootstrap, port: number, accessLogPath: string): EnvoyBootstrap {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError('port must be 1..65535');
  const copy = sibling(bootstrap, accessLogPath);
  const clusters = (copy['static_resources'] as Json | undefined)?.['clusters'];
  const cluster = Array.isArray(clusters) ? clusters.find((c) => isObject(c) && c['name'] === AUTHZ_CLUSTER) : undefined;
  if (!isObject(cluster)) throw new Error(`no ${AUTHZ_CLUSTER} cluster in the bootstrap`);
  cluster['type'] = 'STATIC';
  cluster['load_assignment'] = {
    cluster_name: AUTHZ_CLUSTER,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }],
  };
  return copy;
}
