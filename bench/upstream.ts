import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

// The benchmark's upstream: the least work an OpenAI-compatible endpoint can
// do, so what the benchmark sees is the proxy in front of it. Every answer is
// a buffer built at start; a request costs one body read and one or 21 writes.
//
//   node bench/upstream.ts [--port 0] [--delay-ms 50]
// Prints {"port":N} on stdout once listening. `PUT /bench/delay-ms/N` (sent
// directly, never through a proxy) changes the delay while running, so the
// proxies in front keep their warm processes and pools from one phase to the next.

const model = 'bench-model';
const created = 1_735_689_600;

function completionBody(): Buffer {
  const content = `Hello! ${'This is a benchmark answer of a fixed size. '.repeat(6).trim()}`;
  const body = {
    id: 'chatcmpl-bench0000000000000000000000',
    object: 'chat.completion',
    created,
    model,
    system_fingerprint: 'fp_bench',
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 21, completion_tokens: 64, total_tokens: 85 },
  };
  return Buffer.from(JSON.stringify(body));
}

/** 20 chat.completion.chunk events (role, 18 pieces of content, finish) and [DONE]. */
function streamEvents(): Buffer[] {
  const chunk = (delta: Record<string, unknown>, finish: string | null) =>
    Buffer.from(
      `data: ${JSON.stringify({ id: 'chatcmpl-bench0000000000000000000000', object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_bench', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`,
    );
  const events = [chunk({ role: 'assistant', content: '' }, null)];
  for (let index = 0; index < 18; index += 1) events.push(chunk({ content: ` word${index}` }, null));
  events.push(chunk({}, 'stop'));
  events.push(Buffer.from('data: [DONE]\n\n'));
  return events;
}

export const completion = completionBody();
export const events = streamEvents();
const streamPattern = /"stream"\s*:\s*true/;
const jsonHeaders = { 'content-type': 'application/json', 'content-length': String(completion.length) };
const sseHeaders = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

function answer(response: ServerResponse, stream: boolean): void {
  if (!stream) {
    response.writeHead(200, jsonHeaders);
    response.end(completion);
    return;
  }
  response.writeHead(200, sseHeaders);
  // One write per event, as a model server flushes each token chunk.
  for (const event of events) response.write(event);
  response.end();
}

function main(): void {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, 'delay-ms': { type: 'string', default: '0' } } });
  let delayMs = Number(values['delay-ms']);
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    if (request.method === 'PUT' && request.url?.startsWith('/bench/delay-ms/')) {
      delayMs = Number(request.url.slice('/bench/delay-ms/'.length)) || 0;
      request.resume();
      response.writeHead(204).end();
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method !== 'POST' || !request.url?.endsWith('/chat/completions')) {
        response.writeHead(404, { 'content-type': 'application/json' });
        response.end('{"error":{"message":"not found","type":"invalid_request_error","code":null,"param":null}}');
        return;
      }
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const stream = streamPattern.test(body.toString('latin1'));
      if (delayMs > 0) setTimeout(answer, delayMs, response, stream);
      else answer(response, stream);
    });
  });
  // Proxies keep pooled connections for a whole run; never close them under load.
  server.keepAliveTimeout = 300_000;
  server.headersTimeout = 301_000;
  server.listen(Number(values.port), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

if (import.meta.main) main();
