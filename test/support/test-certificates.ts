import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { tempDir } from './temp-dir.ts';

// A certificate authority made at test time with the machine's `openssl`
// (no private key is ever committed), and server certificates it signs for
// localhost and 127.0.0.1. Without openssl the TLS tests skip, saying so;
// with CI set they must run.

export interface IssuedCertificate {
  /** Paths of the PEM files, as server.tls names them. */
  cert: string;
  key: string;
  serial: string;
}

export interface TestAuthority {
  /** The CA certificate a client trusts. */
  caPem: string;
  /** A server certificate for localhost/127.0.0.1, valid `days` from now (negative: already expired). */
  issue(name: string, days?: number): IssuedCertificate;
}

const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function opensslAvailable(): boolean {
  try {
    openssl(['version']);
    return true;
  } catch {
    return false;
  }
}

/** true when the test can go on; false when it was skipped for want of openssl. */
export function needsOpenssl(context: TestContext): boolean {
  if (opensslAvailable()) return true;
  if (process.env.CI) assert.fail('CI is set but there is no openssl command to make test certificates');
  context.skip('no openssl command on this machine to make test certificates (CI runs this)');
  return false;
}

let serials = 0x5000;

export function createTestAuthority(): TestAuthority {
  const directory = tempDir('switchyard-tls-');
  const caKey = join(directory, 'ca.key');
  const caCert = join(directory, 'ca.crt');
  openssl([
    'req',
    '-x509',
    ...ecKey,
    '-keyout',
    caKey,
    '-out',
    caCert,
    '-days',
    '2',
    '-subj',
    '/CN=Switchyard Test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  ]);
  const extensions = join(directory, 'server.ext');
  writeFileSync(extensions, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  return {
    caPem: readFileSync(caCert, 'utf8'),
    issue(name, days = 2) {
      const base = join(directory, name);
      const serial = (serials += 1).toString(16).toUpperCase();
      openssl(['req', '-new', ...ecKey, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', '/CN=localhost']);
      openssl([
        'x509',
        '-req',
        '-in',
        `${base}.csr`,
        '-CA',
        caCert,
        '-CAkey',
        caKey,
        '-set_serial',
        `0x${serial}`,
        '-days',
        String(days),
        '-extfile',
        extensions,
        '-out',
        `${base}.crt`,
      ]);
      return { cert: `${base}.crt`, key: `${base}.key`, serial };
    },
  };
}
