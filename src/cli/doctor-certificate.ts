import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { readTlsIdentity, type TlsConfig } from '../server/tls-identity.ts';
import type { CheckResult } from './doctor-checks.ts';

// The gateway's own certificate (`server.tls`), as doctor judges it: the one
// a running gateway serves, else the one in the file it would serve. A
// certificate near its end warns, one past it fails: every client would refuse it.

export const warnWithinDays = 14;
const dayMs = 86_400_000;

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export function judgeExpiry(certificate: X509Certificate, whose: string, now = Date.now()): CheckResult {
  const from = Date.parse(certificate.validFrom);
  const to = Date.parse(certificate.validTo);
  const subject = certificate.subject.replaceAll('\n', ', ');
  if (now > to)
    return {
      check: 'certificate',
      verdict: 'fail',
      detail: `${whose} (${subject}) expired on ${day(to)}: clients refuse it; put a new one in server.tls.cert and key (picked up on change or SIGHUP)`,
    };
  if (now < from)
    return { check: 'certificate', verdict: 'fail', detail: `${whose} (${subject}) is not valid before ${day(from)}: is this machine's clock right?` };
  const left = Math.floor((to - now) / dayMs);
  const until = `${whose} (${subject}) is valid until ${day(to)}`;
  if (left < warnWithinDays)
    return {
      check: 'certificate',
      verdict: 'warn',
      detail: `${until}: ${left} day${left === 1 ? '' : 's'} left; renew it (the gateway picks up new files on change or SIGHUP)`,
    };
  return { check: 'certificate', verdict: 'ok', detail: `${until} (${left} days left)` };
}

/** The certificate a TLS client is shown at host:port. Not verified: this is the gateway on this machine, judged by its dates. */
function servedCertificate(host: string, port: number, timeoutMs: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      const certificate = socket.getPeerX509Certificate();
      socket.destroy();
      if (certificate) resolve(certificate);
      else reject(new Error('no certificate was shown'));
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no TLS handshake within ${timeoutMs} ms`)));
    socket.once('error', reject);
  });
}

function fileCertificate(tls: TlsConfig): X509Certificate | string {
  try {
    return readTlsIdentity(tls).certificate;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The served certificate's dates when the gateway runs, else the file's; and whether the file holds another one it has not loaded. */
export async function checkGatewayCertificate(tls: TlsConfig, host: string, port: number, running: boolean, timeoutMs: number): Promise<CheckResult> {
  const file = fileCertificate(tls);
  if (!running) return typeof file === 'string' ? { check: 'certificate', verdict: 'fail', detail: file } : judgeExpiry(file, `the certificate in ${tls.cert}`);
  let served: X509Certificate;
  try {
    served = await servedCertificate(host, port, timeoutMs);
  } catch (error) {
    return { check: 'certificate', verdict: 'fail', detail: `the gateway's TLS handshake failed: ${(error as Error).message}` };
  }
  const judged = judgeExpiry(served, 'the served certificate');
  if (judged.verdict === 'ok' && typeof file !== 'string' && file.fingerprint256 !== served.fingerprint256) {
    return {
      check: 'certificate',
      verdict: 'warn',
      detail: `${judged.detail}; ${tls.cert} holds another one (valid until ${day(Date.parse(file.validTo))}) not loaded yet: send SIGHUP`,
    };
  }
  return judged;
}
