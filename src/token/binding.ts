/**
 * RFC 8705 §3: certificate-bound access tokens. A token carrying `cnf.x5t#S256` may only be used
 * over a TLS connection authenticated with that certificate; Envoy verifies the client
 * certificate and forwards its PEM, and we compare SHA-256 thumbprints of the DER in constant time.
 */
import { X509Certificate, createHash, timingSafeEqual } from 'node:crypto';
import type { HttpRequest } from '../core/http.ts';
import type { Principal } from '../core/principal.ts';

export type BindingFailure = 'token_binding_required' | 'token_binding_mismatch';

/** base64url(SHA-256(DER)) of a PEM certificate, undefined when the PEM does not parse. */
export function certificateThumbprint(pem: string): string | undefined {
  try {
    const cert = new X509Certificate(pem);
    return createHash('sha256').update(cert.raw).digest('base64url');
  } catch {
    return undefined;
  }
}

/**
 * Checks the binding of a verified principal against the request's client certificate.
 * `required` makes unbound tokens fail (issuer or client policy). Returns undefined when fine.
 */
export function checkCertificateBinding(p: Principal, req: HttpRequest, required: boolean): BindingFailure | undefined {
  const expected = p.certThumbprint;
  if (expected === undefined) return required ? 'token_binding_required' : undefined;
  const pem = req.peerCertificatePem;
  if (pem === undefined || pem === '') return 'token_binding_required';
  const actual = certificateThumbprint(pem);
  if (actual === undefined) return 'token_binding_mismatch';
  const a = Buffer.from(actual, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  // Lengths are public (a SHA-256 thumbprint is always 43 chars); only equal lengths reach the compare.
  if (a.length !== b.length || !timingSafeEqual(a, b)) return 'token_binding_mismatch';
  return undefined;
}
