import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { serve } from './support/serve-process.ts';
import { tempDir } from './support/temp-dir.ts';
import { needsOpenssl } from './support/test-certificates.ts';
import { tlsTestbed } from './support/tls-testbed.ts';

// Certificate rotation as an operator (or cert-manager) does it: the files
// under server.tls are replaced, in place with a SIGHUP, or by rename with no
// signal at all, and the running gateway serves the new certificate on new
// connections without closing its port or the connections already open.

const testbed = tlsTestbed();

function open(origin: string): Promise<TLSSocket> {
  const { port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: Number(port), servername: 'localhost', ca: testbed.authority.caPem }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The serial number of the certificate a new connection is shown. */
async function servedSerial(origin: string): Promise<string> {
  const socket = await open(origin);
  const serial = socket.getPeerCertificate().serialNumber;
  socket.destroy();
  return serial;
}

/** One HTTP/1.1 request on an open TLS connection: its status line. */
function statusOn(socket: TLSSocket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString().split('\r\n')[0]!));
    socket.write('GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n');
  });
}

test('a replaced certificate is served after SIGHUP and after a change on disk; a broken one is refused and the old one serves on', async (context) => {
  if (!needsOpenssl(context)) return;
  const directory = tempDir('switchyard-tls-reload-');
  const cert = join(directory, 'gateway.crt');
  const key = join(directory, 'gateway.key');
  const [first, second, third] = [testbed.authority.issue('first'), testbed.authority.issue('second'), testbed.authority.issue('third')];
  copyFileSync(first.cert, cert);
  copyFileSync(first.key, key);
  const file = join(directory, 'switchyard.yaml');
  writeFileSync(
    file,
    `server: { port: 0, log_level: info, tls: { cert: "${cert}", key: "${key}" } }
providers:
  up: { type: openai, base_url: "${testbed.upstream.url}" }
routes:
  chat: { targets: [{ provider: up, model: m1 }] }
`,
  );
  const { child, origin, lines, next } = await serve(file);
  try {
    assert.match(origin, /^https:/);
    assert.equal(lines.find((line) => line.msg === 'TLS certificate loaded')?.subject, 'CN=localhost');
    assert.equal(await servedSerial(origin), first.serial);
    const kept = await open(origin);
    assert.equal(await statusOn(kept), 'HTTP/1.1 200 OK');

    // In place, then SIGHUP.
    const afterSignal = next('TLS certificate reloaded', (line) => line.reason === 'SIGHUP');
    copyFileSync(second.cert, cert);
    copyFileSync(second.key, key);
    child.kill('SIGHUP');
    await afterSignal;
    assert.equal(await servedSerial(origin), second.serial);

    // By rename, as renewal tools do, and no signal: the change is noticed.
    const afterChange = next('TLS certificate reloaded', (line) => line.reason === 'certificate file changed');
    copyFileSync(third.cert, `${cert}.new`);
    copyFileSync(third.key, `${key}.new`);
    renameSync(`${key}.new`, key);
    renameSync(`${cert}.new`, cert);
    assert.equal((await afterChange).fingerprint256 !== undefined, true);
    assert.equal(await servedSerial(origin), third.serial);

    // A file that is not a certificate: refused, the third one serves on.
    const refused = next('TLS certificate reload refused; the previous certificate keeps serving');
    writeFileSync(cert, 'not a certificate\n');
    assert.match(String((await refused).problem), /are not a PEM certificate and its private key/);
    assert.equal(await servedSerial(origin), third.serial);

    // The connection opened before any of this was never dropped.
    assert.equal(kept.getPeerCertificate().serialNumber, first.serial);
    assert.equal(await statusOn(kept), 'HTTP/1.1 200 OK');
    kept.destroy();
  } finally {
    child.kill('SIGKILL');
  }
});
