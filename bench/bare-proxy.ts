import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

// The reference point for one Node.js process: node:http in, node:http out
// over a keep-alive Agent, bytes piped both ways, nothing inspected. A
// gateway written in Node cannot be much faster than this; the benchmark
// reports how close Switchyard comes.
//
//   node bench/bare-proxy.ts --upstream-port N [--port 0]
// Prints {"port":N} on stdout once listening.

const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) if (!hopByHop.has(name)) out[name] = headers[name];
  return out;
}

function main(): void {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, 'upstream-port': { type: 'string' } } });
  const upstreamPort = Number(values['upstream-port']);
  if (!Number.isInteger(upstreamPort) || upstreamPort <= 0) throw new Error('--upstream-port is required');
  const agent = new Agent({ keepAlive: true, maxSockets: 1024, maxFreeSockets: 1024, keepAliveMsecs: 30_000 });

  const server = createServer((request, response) => {
    const upstream = httpRequest(
      { host: '127.0.0.1', port: upstreamPort, method: request.method, path: request.url, headers: endToEnd(request.headers), agent },
      (upstreamResponse) => {
        response.writeHead(upstreamResponse.statusCode ?? 502, endToEnd(upstreamResponse.headers));
        upstreamResponse.pipe(response);
      },
    );
    upstream.on('error', () => {
      if (!response.headersSent) response.writeHead(502, { 'content-type': 'application/json' });
      response.end();
    });
    response.on('close', () => {
      if (!response.writableFinished) upstream.destroy();
    });
    request.pipe(upstream);
  });
  server.keepAliveTimeout = 300_000;
  server.headersTimeout = 301_000;
  server.listen(Number(values.port), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

main();
