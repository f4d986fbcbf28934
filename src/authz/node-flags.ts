/**
 * The Node/V8 flags fhirgate-authz runs with, in one place for everything that starts it (the dev
 * stack, `cluster-dev`, the benchmarks; the container image sets the same through NODE_OPTIONS).
 */
export const AUTHZ_NODE_FLAGS: readonly string[] = [];
