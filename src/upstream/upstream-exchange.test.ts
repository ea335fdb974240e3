import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Pool } from 'undici';
import { BodyTooLarge, exchange } from './upstream-exchange.ts';
import { Cancellation } from '../resilience/cancellation.ts';

// exchange() against a real node:http server: the body queue must hold the
// upstream back when the gateway reads slowly, and abort and limits must
// tear the request down rather than leave it half-read.

async function withServer(handler: (response: ServerResponse) => void, run: (pool: Pool, origin: string) => Promise<void>): Promise<void> {
  const server = createServer((request, response) => {
    request.resume();
    handler(response);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const pool = new Pool(origin, { connections: 1 });
  try {
    await run(pool, origin);
  } finally {
    await pool.destroy();
    server.closeAllConnections();
    server.close();
  }
}

test('a slow reader pauses the upstream instead of buffering everything it sends', async () => {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const total = 64 * 1024 * 1024;
  await withServer(
    (response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      let written = 0;
      const pump = () => {
        while (written < total) {
          written += chunk.length;
          if (!response.write(chunk)) return void response.once('drain', pump);
        }
        response.end();
      };
      pump();
    },
    async (pool, origin) => {
      const response = await exchange(pool, { origin, method: 'GET', path: '/' }, new Cancellation());
      assert.equal(response.statusCode, 200);
      let received = 0;
      for (let round = 0; round < 3; round += 1) {
        // However long the gateway looks away, what waits for it stays near the high-water mark:
        // without pausing the socket, 64 MiB would pile up here.
        await new Promise((resolve) => setTimeout(resolve, 50));
        const batch = await response.body.read();
        const size = batch!.reduce((sum, part) => sum + part.length, 0);
        assert.ok(size <= 1024 * 1024, `${size} bytes queued while nobody read`);
        received += size;
      }
      // Reading resumes the socket: the rest arrives.
      for (let batch = await response.body.read(); batch !== null; batch = await response.body.read()) {
        received += batch.reduce((sum, part) => sum + part.length, 0);
      }
      assert.equal(received, total);
    },
  );
});

test('an abort before the headers rejects with its reason; after them it fails the body', async () => {
  await withServer(
    (response) => {
      response.writeHead(200);
      response.write('partial');
    },
    async (pool, origin) => {
      const early = new Cancellation();
      early.abort(new Error('gone early'));
      await assert.rejects(exchange(pool, { origin, method: 'GET', path: '/' }, early), /gone early/);

      const late = new Cancellation();
      const response = await exchange(pool, { origin, method: 'GET', path: '/' }, late);
      const first = await response.body.read();
      assert.equal(Buffer.concat(first!).toString(), 'partial');
      late.abort(new Error('client left'));
      await assert.rejects(response.body.read(), /client left/);
    },
  );
});

test('readAll returns the whole body, and past its limit refuses it or cuts it short', async () => {
  await withServer(
    (response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"a":');
      setImmediate(() => response.end('"' + 'b'.repeat(5000) + '"}'));
    },
    async (pool, origin) => {
      const whole = await (await exchange(pool, { origin, method: 'GET', path: '/' }, new Cancellation())).body.readAll(10_000);
      assert.equal((JSON.parse(whole.toString()) as { a: string }).a.length, 5000);
      const limited = await exchange(pool, { origin, method: 'GET', path: '/' }, new Cancellation());
      await assert.rejects(limited.body.readAll(100), BodyTooLarge);
      const truncated = await exchange(pool, { origin, method: 'GET', path: '/' }, new Cancellation());
      assert.equal((await truncated.body.readAll(8, { truncate: true })).toString(), '{"a":"bb');
    },
  );
});
