import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runLoad, wrkVersion, type LoadResult } from '../load.ts';
import { currentRss, peakRss } from '../proc-stats.ts';
import { fetchLocal, freePort, killAll, stopProcess, waitUntil } from '../services.ts';
import { baseHeaders, buildGateway, requestBody, requestPath, startNodeArgs, startServe, startUpstream } from '../targets.ts';

// The figures behind the hardening issue's items 2 and 3, as they stand now
// (the issue holds the figures from before). Not part of CI.
//
//   node bench/lab/hardening.ts [--seconds 20] [--connections 50] [--only unframed|redis]
//
// unframed: streams from an upstream that sends bytes without ever ending an
//   SSE event, four at a time over and over, beside steady plain traffic to a
//   healthy provider: the healthy traffic's latency with and without them, and
//   the gateway's peak memory.
// redis: a Redis that stops answering with its socket open (SIGSTOP) under
//   load with cache.redis and state.redis (a keyed rate limit, so every request
//   asks Redis): memory over time, and what the clients saw.

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    connections: { type: 'string', default: '50' },
    only: { type: 'string' },
  },
});
const seconds = Number(flags.seconds);
const connections = Number(flags.connections);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const workDir = mkdtempSync(join(tmpdir(), 'switchyard-hardening-'));
const generator = wrkVersion() ? 'wrk' : 'autocannon';
process.on('exit', killAll);
process.on('SIGINT', () => process.exit(130));

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;
const ms = (value: number) => `${value.toFixed(1)} ms`;

async function startGateway(config: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const file = join(workDir, `gateway-${port}.yaml`);
  writeFileSync(file, `server: { host: 127.0.0.1, port: ${port}, log_level: warn }\n${config}`);
  const child = await startServe({
    label: 'Switchyard',
    checkout: repoRoot,
    config: file,
    port,
    nodeArgs: startNodeArgs,
    stdout: join(workDir, `gateway-${port}.log`),
    stderr: join(workDir, `gateway-${port}.err`),
  });
  return { port, child };
}

/** Samples a process's resident memory every 250 ms until stopped; returns the samples. */
function sampleRss(pid: number): { stop(): number[] } {
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(currentRss(pid)), 250);
  return {
    stop() {
      clearInterval(timer);
      return samples;
    },
  };
}

const load = (port: number, headers: Record<string, string> = baseHeaders): Promise<LoadResult> =>
  runLoad({ port, path: requestPath, headers, body: requestBody(false) }, { generator, connections, seconds, cpus: undefined, workDir });

/** An upstream whose streams send `data: xxxx…` forever and never end an event. */
function startUnframedUpstream(): Promise<Server> {
  const filler = Buffer.alloc(64 * 1024, 'x');
  const server = createServer((request, response) => {
    request.resume();
    if (request.url?.endsWith('/models')) return void response.end('{"object":"list","data":[]}');
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write('data: ');
    const timer = setInterval(() => response.write(filler), 1);
    response.on('close', () => clearInterval(timer));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function unframed(): Promise<string[]> {
  const upstream = await startUpstream({ repoRoot, workDir, cpus: undefined });
  const bad = await startUnframedUpstream();
  const badPort = (bad.address() as { port: number }).port;
  const gateway = await startGateway(`providers:
  good: { type: openai, base_url: "http://127.0.0.1:${upstream.port}/v1", api_key: bench-key }
  unframed: { type: openai, base_url: "http://127.0.0.1:${badPort}/v1", api_key: bench-key, health_check: { enabled: false }, circuit_breaker: { error_rate: 1 } }
routes:
  chat: { targets: [{ provider: good, model: bench-model }] }
  endless: { targets: [{ provider: unframed, model: bench-model }], retry: { attempts: 1 } }
`);
  const pid = gateway.child.pid!;
  process.stderr.write(`unframed: ${seconds} s of plain traffic alone…\n`);
  const alone = await load(gateway.port);

  process.stderr.write(`unframed: the same beside four endless streams at a time…\n`);
  let running = true;
  const outcomes = new Map<string, number>();
  const firsts: string[] = [];
  const worker = async () => {
    while (running) {
      const startedAt = performance.now();
      const answer = await fetchLocal(gateway.port, requestPath, {
        method: 'POST',
        headers: baseHeaders,
        body: JSON.stringify({ model: 'endless', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      }).catch((error: Error) => ({ status: 0, body: error.message }));
      const code = /"code":"([a-z_]+)"/.exec(answer.body)?.[1] ?? `status ${answer.status}`;
      outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
      if (firsts.length < 3) firsts.push(`${answer.status} after ${(performance.now() - startedAt).toFixed(0)} ms: ${answer.body.slice(0, 300)}`);
    }
  };
  const rss = sampleRss(pid);
  const workers = Array.from({ length: 4 }, worker);
  const beside = await load(gateway.port);
  running = false;
  await Promise.all(workers);
  const samples = rss.stop();
  const peak = peakRss(pid);
  await stopProcess(gateway.child);
  await upstream.stop();
  bad.closeAllConnections();
  bad.close();
  return [
    '## Unframed upstream streams beside healthy traffic',
    '',
    `${connections} connections of plain requests to a healthy provider for ${seconds} s (${generator}), alone and then beside four clients that each ask, over and over, for a stream from an upstream sending 64 KiB of \`data: xxx…\` every millisecond without ever ending the event.`,
    '',
    '| | healthy requests/s | p50 | p99 | non-2xx |',
    '|---|---|---|---|---|',
    `| alone | ${alone.rps.toFixed(0)} | ${ms(alone.p50)} | ${ms(alone.p99)} | ${alone.non2xx} |`,
    `| beside endless streams | ${beside.rps.toFixed(0)} | ${ms(beside.p50)} | ${ms(beside.p99)} | ${beside.non2xx} |`,
    '',
    ...firsts.map((line) => `    ${line}`),
    '',
    `Endless-stream requests answered: ${[...outcomes].map(([code, count]) => `${count} × \`${code}\``).join(', ')}. Gateway RSS during them: median ${mb(median(samples))}, highest sample ${mb(Math.max(...samples))}; peak RSS of the whole run (VmHWM) ${mb(peak)}.`,
  ];
}

async function redis(): Promise<string[]> {
  const upstream = await startUpstream({ repoRoot, workDir, cpus: undefined });
  const redisPort = await freePort();
  const server = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitUntil(
    'redis-server',
    () =>
      new Promise((resolve) =>
        connect(redisPort, '127.0.0.1')
          .once('connect', function (this: Socket) {
            this.destroy();
            resolve(true);
          })
          .once('error', () => resolve(false)),
      ),
  );
  const url = `redis://127.0.0.1:${redisPort}`;
  const gateway = await startGateway(`providers:
  good: { type: openai, base_url: "http://127.0.0.1:${upstream.port}/v1", api_key: bench-key }
routes:
  chat: { targets: [{ provider: good, model: bench-model }], cache: { ttl: 1h } }
auth:
  keys: [{ name: bench, key: bench-key, rate_limit: { requests_per_second: 1000000 }, admin: true }]
state: { redis: { url: "${url}" } }
cache: { redis: { url: "${url}" } }
`);
  const pid = gateway.child.pid!;
  process.stderr.write(`redis: ${seconds} s with Redis answering…\n`);
  // Every request asks Redis for the key's bucket (one Lua script); the cache's memory tier answers before its Redis tier.
  const rssBefore = sampleRss(pid);
  const answering = await load(gateway.port);
  const before = rssBefore.stop();
  process.stderr.write(`redis: ${seconds} s with Redis stopped (SIGSTOP), its socket open…\n`);
  server.kill('SIGSTOP');
  const rssHung = sampleRss(pid);
  let mostWaiting = 0;
  const poll = setInterval(() => {
    void fetchLocal(gateway.port, '/admin/status', { headers: baseHeaders }).then(
      (status) => {
        for (const match of status.body.matchAll(/"waiting":(\d+)/g)) mostWaiting = Math.max(mostWaiting, Number(match[1]));
      },
      () => {},
    );
  }, 250);
  const hung = await load(gateway.port);
  clearInterval(poll);
  const during = rssHung.stop();
  server.kill('SIGCONT');
  server.kill('SIGKILL');
  await stopProcess(gateway.child);
  await upstream.stop();
  return [
    '## Redis hung with its socket open',
    '',
    `${connections} connections for ${seconds} s each (${generator}); routes with \`cache\` and a keyed \`rate_limit\`, \`cache.redis\` and \`state.redis\` on one redis-server, then the same with that server stopped by SIGSTOP (its socket stays open; nothing answers).`,
    '',
    '| Redis | requests/s | p50 | p99 | non-2xx | RSS median | RSS highest |',
    '|---|---|---|---|---|---|---|',
    `| answering | ${answering.rps.toFixed(0)} | ${ms(answering.p50)} | ${ms(answering.p99)} | ${answering.non2xx} | ${mb(median(before))} | ${mb(Math.max(...before))} |`,
    `| hung | ${hung.rps.toFixed(0)} | ${ms(hung.p50)} | ${ms(hung.p99)} | ${hung.non2xx} | ${mb(median(during))} | ${mb(Math.max(...during))} |`,
    '',
    `Most commands waiting on a hung link (\`/admin/status\` \`waiting\`, polled every 250 ms): ${mostWaiting}.`,
  ];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

buildGateway(repoRoot, repoRoot);
const sections: string[] = [];
if (flags.only !== 'redis') sections.push(...(await unframed()), '');
if (flags.only !== 'unframed') sections.push(...(await redis()));
process.stdout.write(`${sections.join('\n')}\n`);
rmSync(workDir, { recursive: true, force: true });
