// How many upstream calls one application call costs when a route's only
// provider keeps failing, with the clients' default retries on top of the
// gateway's own: the OpenAI SDK (2 retries, honours x-should-retry) and
// LangChain's ChatOpenAI (6 retries of its own, reads no such header).
// `npm run bench:amplification` prints a table for the README.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChatOpenAI } from '@langchain/openai';
import OpenAI from 'openai';
import { buildConfig } from '../src/config/load-config.ts';
import { createLogger } from '../src/observability/logger.ts';
import { GatewayMetrics } from '../src/observability/metrics.ts';
import { Gateway } from '../src/pipeline/gateway.ts';
import { createServer as createGatewayServer } from '../src/server/create-server.ts';

type Failure = { status: 429 | 503; headers: Record<string, string> };
const failures: Record<string, Failure> = {
  '429 (Retry-After: 1)': { status: 429, headers: { 'retry-after': '1' } },
  '503': { status: 503, headers: {} },
};

let calls = 0;
let failure: Failure = failures['503']!;
const upstream = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    if (request.method === 'GET') return void response.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[]}');
    calls += 1;
    response
      .writeHead(failure.status, { 'content-type': 'application/json', ...failure.headers })
      .end(JSON.stringify({ error: { message: 'busy', type: 'server_error', code: null } }));
  });
});
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
const config = buildConfig(
  {
    server: { port: 0, log_level: 'silent' },
    // The sole provider's breaker never opens here, so every row counts the retries alone.
    providers: {
      only: {
        type: 'openai',
        base_url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`,
        health_check: { enabled: false },
        circuit_breaker: { min_requests: 1000 },
      },
    },
    routes: { chat: { targets: [{ provider: 'only', model: 'm' }] } },
  },
  'bench',
);
const gateway = new Gateway(config, { logger: createLogger({ level: 'silent' }), metrics: new GatewayMetrics({ defaultMetrics: false }) });
const app = createGatewayServer(gateway);
const baseURL = `${await app.listen({ host: '127.0.0.1', port: 0 })}/v1`;

const clients: Record<string, () => Promise<unknown>> = {
  'openai SDK (defaults)': () =>
    new OpenAI({ baseURL, apiKey: 'unused' }).chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
  'LangChain ChatOpenAI (defaults)': () => new ChatOpenAI({ model: 'chat', apiKey: 'unused', configuration: { baseURL } }).invoke('hi'),
};

console.log('| provider answers | client | upstream calls per app call | time to the error |');
console.log('|---|---|---|---|');
for (const [name, given] of Object.entries(failures)) {
  failure = given;
  for (const [client, call] of Object.entries(clients)) {
    calls = 0;
    const started = performance.now();
    await call().catch(() => undefined);
    console.log(`| ${name} | ${client} | ${calls} | ${((performance.now() - started) / 1000).toFixed(1)} s |`);
  }
}
await app.close();
await gateway.close();
upstream.close();
