import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// Providers that misbehave in ways a real one has, or an attacker who runs
// one could: a stream that never ends an event, a key echoed in an error, a
// 200 whose body is an error, content that spells "[DONE]". What the client
// sees must be whole or an honest error, and never our key.

const providerKey = 'sk-provider-secret-key-0123456789abcdef';
type Behaviour = (request: IncomingMessage, response: ServerResponse, body: { stream?: boolean }) => void;

let behaviour: Behaviour;
let upstream: Server;
let upstreamUrl: string;
let backup: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;
let aborted = 0;

const chunk = (content: string) =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;

beforeAndAfter(
  async () => {
    upstream = createServer((request, response) => {
      const parts: Buffer[] = [];
      request.on('data', (part: Buffer) => parts.push(part));
      request.on('end', () => {
        response.on('close', () => {
          if (!response.writableFinished) aborted += 1;
        });
        if (request.method === 'GET') {
          response.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[]}');
          return;
        }
        behaviour(request, response, JSON.parse(Buffer.concat(parts).toString('utf8')) as { stream?: boolean });
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
    backup = await startSim({ models: ['b1'] });
    gateway = await startGateway({
      providers: {
        odd: { type: 'openai', base_url: upstreamUrl, api_key: providerKey, health_check: { enabled: false } },
        backup: { type: 'openai', base_url: backup.url, health_check: { enabled: false } },
      },
      routes: {
        solo: { targets: [{ provider: 'odd', model: 'm' }], retry: { attempts: 1 } },
        cached: { targets: [{ provider: 'odd', model: 'm' }], retry: { attempts: 1 }, cache: { ttl: '1h' } },
        failover: {
          targets: [
            { provider: 'odd', model: 'm' },
            { provider: 'backup', model: 'b1', tier: 2 },
          ],
          retry: { attempts: 1 },
        },
      },
    });
  },
  async () => {
    await gateway.close();
    await backup.close();
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  },
);

async function streamText(model: string): Promise<{ text: string; events: string[] }> {
  const response = await fetch(`${gateway.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const text = await response.text();
  return { text, events: text.split('\n\n').filter((event) => event.trim() !== '') };
}

test('a stream that never ends an event fails with upstream_malformed instead of filling memory, and other requests go on', async () => {
  let sent = 0;
  behaviour = (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write(chunk('Hello'));
    const filler = Buffer.alloc(64 * 1024, 0x78);
    const pump = () => {
      // 10 MB of bytes and no blank line: more than an event may hold.
      while (sent < 10 * 1024 * 1024 && response.write(filler)) sent += filler.length;
      if (sent < 10 * 1024 * 1024) response.once('drain', pump);
    };
    pump();
  };
  const cut = streamText('solo');
  const other = await gateway.client.chat.completions.create({ model: 'failover', messages: [{ role: 'user', content: 'meanwhile' }] }).catch(() => undefined);
  const { events } = await cut;
  assert.equal(events[0], chunk('Hello').trim());
  const last = JSON.parse(events.at(-1)!.slice('data: '.length)) as { error: { code: string } };
  assert.equal(last.error.code, 'upstream_malformed');
  assert.ok(!events.includes('data: [DONE]'));
  assert.ok(other === undefined || other.choices.length > 0);
});

test('content that spells [DONE] is content: the whole answer arrives, and the cached copy is whole too', async () => {
  behaviour = (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    // Field order as some providers send it: the content last, so "[DONE]" sits in the event's final bytes.
    const spelled = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"finish_reason":null,"delta":{"content":"[DONE]"}}]}\n\n`;
    response.end(chunk('The stream ends with ') + spelled + chunk(' after the last event.') + 'data: [DONE]\n\n');
  };
  const words = (events: string[]) =>
    events
      .filter((event) => event !== 'data: [DONE]')
      .map((event) => (JSON.parse(event.slice(6)) as { choices: { delta: { content: string } }[] }).choices[0]!.delta.content)
      .join('');
  const first = await streamText('cached');
  assert.equal(words(first.events), 'The stream ends with [DONE] after the last event.');
  assert.equal(first.events.at(-1), 'data: [DONE]');
  behaviour = (_request, response) => response.writeHead(500).end();
  const again = await streamText('cached');
  assert.equal(words(again.events), 'The stream ends with [DONE] after the last event.');
});

test('an error event before content that echoes our key reaches the client without it', async () => {
  behaviour = (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.end(`data: {"error":{"message":"Invalid header Authorization: Bearer ${providerKey} (key ${providerKey})"}}\n\n`);
  };
  const response = await fetch(`${gateway.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'solo', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const text = await response.text();
  assert.equal(response.status, 503);
  assert.ok(!text.includes(providerKey), text);
  assert.ok(!text.includes(providerKey.slice(3, 20)), text);
  assert.match(text, /redacted/);
  assert.ok(!gateway.logs().includes(providerKey));
});

test('an error event after content is forwarded without our key', async () => {
  behaviour = (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.end(chunk('Hi') + `data: {"error":{"message":"upstream saw ${providerKey}"}}\n\n`);
  };
  const { text } = await streamText('solo');
  assert.ok(!text.includes(providerKey), text);
  assert.match(text, /upstream saw \[redacted\]/);
});

test('a non-stream 4xx whose message echoes our key is returned without it', async () => {
  behaviour = (_request, response) => {
    response
      .writeHead(400, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { message: `bad request with key ${providerKey}`, type: 'invalid_request_error', code: null } }));
  };
  const response = await fetch(`${gateway.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'solo', messages: [{ role: 'user', content: 'hi' }] }),
  });
  const text = await response.text();
  assert.equal(response.status, 400);
  assert.ok(!text.includes(providerKey), text);
});

test('a 200 whose body is an error fails over and is never cached', async () => {
  behaviour = (_request, response) => {
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end('{"error":{"message":"Service busy, try later","type":"server_error","code":"overloaded"}}');
  };
  const served = await gateway.client.chat.completions.create({ model: 'failover', messages: [{ role: 'user', content: 'hi' }] });
  assert.ok(served.choices[0]?.message.content);
  const solo = await fetch(`${gateway.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'cached', messages: [{ role: 'user', content: 'an error body' }] }),
  });
  assert.equal(solo.status, 503);
  assert.match(await solo.text(), /Service busy/);
  behaviour = (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        id: 'x',
        object: 'chat.completion',
        created: 1,
        model: 'm',
        choices: [{ index: 0, message: { role: 'assistant', content: 'fine now' }, finish_reason: 'stop' }],
      }),
    );
  };
  const after = await gateway.client.chat.completions.create({ model: 'cached', messages: [{ role: 'user', content: 'an error body' }] });
  assert.equal(after.choices[0]?.message.content, 'fine now');
  assert.ok(aborted >= 1, 'the unframed stream was aborted upstream');
});
