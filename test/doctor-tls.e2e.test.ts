import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText } from '../src/config/load-config.ts';
import { judgeExpiry } from '../src/cli/doctor-certificate.ts';
import { checkGateway, type CheckResult } from '../src/cli/doctor-checks.ts';
import { closedPort } from './support/closed-port.ts';
import { cli } from './support/serve-process.ts';
import { tempDir } from './support/temp-dir.ts';
import { needsOpenssl, type IssuedCertificate } from './support/test-certificates.ts';
import { tlsTestbed } from './support/tls-testbed.ts';

// `switchyard doctor` on a gateway that serves HTTPS: it reaches the gateway
// over TLS and judges the certificate it serves (or, when none runs, the one
// in the file): weeks left is fine, under 14 days warns, expired fails.

const directory = tempDir('switchyard-doctor-tls-');
const testbed = tlsTestbed();

async function gatewayWith(identity: IssuedCertificate): Promise<number> {
  return Number(new URL((await testbed.gatewayWith(identity)).origin).port);
}

function configFor(port: number, identity: IssuedCertificate): string {
  return `server: { port: ${port}, tls: { cert: "${identity.cert}", key: "${identity.key}" } }
providers:
  up: { type: openai, base_url: "${testbed.upstream.url}" }
routes:
  chat: { targets: [{ provider: up, model: m1 }] }
`;
}

/** The gateway's checks, as doctor makes them, keyed by check name. */
async function gatewayChecks(port: number, identity: IssuedCertificate): Promise<Record<string, CheckResult>> {
  const report = await checkGateway(parseConfigText(configFor(port, identity), 'test'), 3000);
  return Object.fromEntries(report.results.map((result) => [result.check, result]));
}

/** The whole command, as an operator reads it. */
function doctorText(port: number, identity: IssuedCertificate): Promise<{ code: number | null; stdout: string }> {
  const file = join(directory, `doctor-${port}.yaml`);
  writeFileSync(file, configFor(port, identity));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'doctor', '--config', file, '--timeout', '3s'], { env: { ...process.env, SWITCHYARD_CONFIG: '' } });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

test('doctor judges the gateway certificate: fine, near its end, expired, not yet loaded, and from the file when none runs', async (context) => {
  if (!needsOpenssl(context)) return;
  const [fine, ending, expired, idle] = [
    testbed.authority.issue('fine', 60),
    testbed.authority.issue('ending', 5),
    testbed.authority.issue('expired', -1),
    testbed.authority.issue('idle', 30),
  ];
  const renewed = testbed.authority.issue('renewed', 90);
  const stale = testbed.authority.issue('stale', 60);
  const [finePort, endingPort, expiredPort, stalePort, idlePort] = [
    await gatewayWith(fine),
    await gatewayWith(ending),
    await gatewayWith(expired),
    await gatewayWith(stale),
    await closedPort(),
  ];
  // The stale gateway's file is renewed on disk but never reloaded.
  copyFileSync(renewed.cert, stale.cert);
  copyFileSync(renewed.key, stale.key);
  const [onFine, onEnding, onExpired, onStale, onIdle, endingText] = await Promise.all([
    gatewayChecks(finePort, fine),
    gatewayChecks(endingPort, ending),
    gatewayChecks(expiredPort, expired),
    gatewayChecks(stalePort, stale),
    gatewayChecks(idlePort, idle),
    doctorText(endingPort, ending),
  ]);

  assert.equal(onFine.ready?.verdict, 'ok', 'doctor reaches the gateway over HTTPS');
  assert.equal(onFine.certificate?.verdict, 'ok');
  assert.match(onFine.certificate!.detail, /^the served certificate \(CN=localhost\) is valid until \d{4}-\d\d-\d\d \((59|60) days left\)$/);

  assert.equal(endingText.code, 0, 'a warning does not fail the run');
  assert.equal(onEnding.certificate?.verdict, 'warn');
  assert.match(onEnding.certificate!.detail, /[45] days left; renew it/);
  assert.match(endingText.stdout, /WARN {2}certificate/);
  assert.match(endingText.stdout, /1 warning: switchyard certificate\.$/m);

  assert.equal(onExpired.certificate?.verdict, 'fail');
  assert.match(onExpired.certificate!.detail, /^the served certificate \(CN=localhost\) expired on \d{4}-\d\d-\d\d: clients refuse it/);

  assert.equal(onStale.certificate?.verdict, 'warn');
  assert.match(onStale.certificate!.detail, /holds another one \(valid until \d{4}-\d\d-\d\d\) not loaded yet: send SIGHUP$/);

  assert.equal(onIdle.running?.verdict, 'skip');
  assert.equal(onIdle.certificate?.verdict, 'ok');
  assert.match(onIdle.certificate!.detail, /^the certificate in .*idle\.crt \(CN=localhost\) is valid until/);
});

test('the verdict turns at 14 days left, at the end of validity and before its start', (context) => {
  if (!needsOpenssl(context)) return;
  const certificate = new X509Certificate(readFileSync(testbed.authority.issue('dated', 30).cert));
  const [from, to] = [Date.parse(certificate.validFrom), Date.parse(certificate.validTo)];
  const day = 86_400_000;
  const verdict = (now: number) => judgeExpiry(certificate, 'it', now).verdict;
  assert.equal(verdict(to - 14 * day), 'ok');
  assert.equal(verdict(to - 14 * day + 1000), 'warn');
  assert.equal(verdict(to - 1000), 'warn');
  assert.equal(verdict(to + 1000), 'fail');
  assert.equal(verdict(from - 1000), 'fail');
  assert.match(judgeExpiry(certificate, 'it', from - 1000).detail, /not valid before .*clock/);
});
