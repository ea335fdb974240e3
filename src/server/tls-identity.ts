import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Config } from '../config/schema.ts';

// The gateway's own certificate and key (`server.tls`), read from their PEM
// files. Read whole and checked as a pair before use, so a half-replaced pair
// (new certificate, old key) is refused with a reason instead of failing handshakes.

export type TlsConfig = NonNullable<Config['server']['tls']>;

export interface TlsIdentity {
  /** For https.createServer and server.setSecureContext. */
  options: SecureContextOptions & { cert: Buffer; key: Buffer };
  certificate: X509Certificate;
}

export class TlsIdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsIdentityError';
  }
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new TlsIdentityError(`server.tls.${what}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

export function readTlsIdentity(tls: TlsConfig): TlsIdentity {
  const cert = readPem(tls.cert, 'cert');
  const key = readPem(tls.key, 'key');
  const options = { cert, key, minVersion: tls.min_version };
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
    createSecureContext(options);
  } catch (error) {
    throw new TlsIdentityError(`server.tls: ${tls.cert} and ${tls.key} are not a PEM certificate and its private key (${(error as Error).message})`);
  }
  return { options, certificate };
}

/** What a log line says of a certificate: whom it names and until when (never the key). */
export function describeCertificate(certificate: X509Certificate): { subject: string; valid_to: string; fingerprint256: string } {
  return {
    subject: certificate.subject.replaceAll('\n', ', '),
    valid_to: new Date(certificate.validTo).toISOString(),
    fingerprint256: certificate.fingerprint256,
  };
}
