/**
 * TypeScript shapes of the ext_authz v3 messages as @grpc/proto-loader decodes and encodes them
 * with our loader options (keepCase, enums as strings, bytes as Buffer, no defaults). Only the
 * fields fhirgate reads or writes are declared; everything is optional because the wire is hostile.
 */

export interface SocketAddress {
  address?: string;
  port_value?: number;
}

export interface Address {
  socket_address?: SocketAddress;
  pipe?: { path?: string };
}

export interface Peer {
  address?: Address;
  principal?: string;
  certificate?: string;
}

export interface HeaderValue {
  key?: string;
  value?: string;
  raw_value?: Buffer;
}

export interface HttpRequestAttrs {
  id?: string;
  method?: string;
  headers?: Record<string, string>;
  header_map?: { headers?: HeaderValue[] };
  path?: string;
  host?: string;
  scheme?: string;
  query?: string;
  size?: number;
  protocol?: string;
  body?: string;
  raw_body?: Buffer;
}

export interface CheckRequest {
  attributes?: {
    source?: Peer;
    destination?: Peer;
    request?: { http?: HttpRequestAttrs };
    context_extensions?: Record<string, string>;
  };
}

export type HeaderAppendAction =
  | 'APPEND_IF_EXISTS_OR_ADD'
  | 'ADD_IF_ABSENT'
  | 'OVERWRITE_IF_EXISTS_OR_ADD'
  | 'OVERWRITE_IF_EXISTS';

export interface HeaderValueOption {
  header: { key: string; value: string };
  append_action: HeaderAppendAction;
}

/** google.protobuf.Value as protobufjs encodes it (camelCase member names). */
export type StructValue =
  | { stringValue: string }
  | { numberValue: number }
  | { boolValue: boolean }
  | { structValue: { fields: Record<string, StructValue> } };

export interface CheckResponse {
  status: { code: number; message?: string };
  denied_response?: {
    status: { code: string };
    headers: HeaderValueOption[];
    body: string;
  };
  ok_response?: {
    headers: HeaderValueOption[];
    headers_to_remove: string[];
    response_headers_to_add: HeaderValueOption[];
    query_parameters_to_set: Array<{ key: string; value: string }>;
    query_parameters_to_remove: string[];
  };
  dynamic_metadata?: { fields: Record<string, StructValue> };
}
