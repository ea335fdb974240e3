import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { summariseCallgrind } from './callgrind-summary.ts';
import { fetchLocal, freePort, killAll, startProcess, stopProcess, waitUntil } from '../services.ts';
import { baseHeaders, buildGateway, requestBody, requestPath, startNodeArgs, startUpstream, switchyardConfig } from '../targets.ts';

// Instructions per request, counted by valgrind's callgrind: the same figure
// for the same code whatever else the machine is doing, where CPU time on
// these shared machines drifts ±10% between runs. It counts work, not time
// (cache misses are not in it), so it tells whether a change removed work
// from the request path, not what that is worth in microseconds.
//
//   npm run bench:instructions -- [--baseline-dir DIR] [--bare] [--requests 2000] [--warmup 20000] [--stream] [--by-function [--top 40]]
//
// --by-function also prints the working tree's top functions by instructions
// per request (bench/lab/callgrind-summary.ts), JIT code named from V8's perf map.
//
// Each gateway runs the built dist/ under callgrind with counting off; the
// warm-up requests let V8 compile the hot path; then counting is switched on
// for --requests sequential requests on one keep-alive connection.

const { values: flags } = parseArgs({
  options: {
    'baseline-dir': { type: 'string' },
    bare: { type: 'boolean', default: false },
    requests: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '20000' },
    stream: { type: 'boolean', default: false },
    'by-function': { type: 'boolean', default: false },
    top: { type: 'string', default: '40' },
  },
});
if (!spawnSync('valgrind', ['--version']).stdout) throw new Error('valgrind is not installed (apt-get install -y valgrind)');
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const workDir = mkdtempSync(join(tmpdir(), 'switchyard-instructions-'));
process.on('exit', () => {
  killAll();
  rmSync(workDir, { recursive: true, force: true });
});

const upstream = await startUpstream({ repoRoot, workDir, cpus: undefined });
const body = Buffer.from(requestBody(flags.stream));

function send(port: number, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path: requestPath, headers: { ...baseHeaders, 'content-length': String(body.length) }, agent },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** The bare node:http proxy under the same count: the reference point for one Node.js process. */
async function countBare(): Promise<number> {
  return measure('bare', [join(repoRoot, 'bench/bare-proxy.ts'), '--upstream-port', String(upstream.port)], repoRoot, async (child) => {
    const line = await new Promise<string>((resolve) => child.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    return (JSON.parse(line.split('\n')[0]!) as { port: number }).port;
  });
}

async function count(label: string, checkout: string): Promise<number> {
  buildGateway(repoRoot, checkout);
  const port = await freePort();
  const config = join(workDir, `${label}.yaml`);
  writeFileSync(config, switchyardConfig(port, upstream.port));
  return measure(
    label,
    [
      ...(flags['by-function'] ? ['--perf-basic-prof', '--no-logfile-per-isolate', `--logfile=${join(workDir, 'v8.log')}`] : []),
      ...startNodeArgs,
      'dist/cli.js',
      'serve',
      '--config',
      config,
    ],
    checkout,
    async () => {
      await waitUntil(label, async () => (await fetchLocal(port, '/readyz')).status === 200, 120_000);
      return port;
    },
  );
}

async function measure(label: string, nodeArgs: string[], cwd: string, ready: (child: ChildProcess) => Promise<number>): Promise<number> {
  const out = join(workDir, `${label}.callgrind`);
  const child = startProcess(
    'valgrind',
    ['--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, ...nodeArgs],
    {
      cwd,
      stdout: label === 'bare' ? 'pipe' : join(workDir, `${label}.log`),
      stderr: join(workDir, `${label}.err`),
    },
  );
  const port = await ready(child);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (let index = 0; index < Number(flags.warmup); index += 1) await send(port, agent);
  execFileSync('callgrind_control', ['--instr=on', String(child.pid)]);
  const requests = Number(flags.requests);
  for (let index = 0; index < requests; index += 1) {
    const status = await send(port, agent);
    if (status !== 200) throw new Error(`${label} answered ${status}`);
  }
  if (flags['by-function'] && label === 'switchyard') execFileSync('callgrind_control', ['--dump=window', String(child.pid)]);
  execFileSync('callgrind_control', ['--instr=off', String(child.pid)]);
  agent.destroy();
  await stopProcess(child, 60_000);
  if (flags['by-function'] && label === 'switchyard') {
    const perfMap = `/tmp/perf-${child.pid}.map`;
    byFunction = summariseCallgrind(`${out}.1`, perfMap, requests, Number(flags.top));
    rmSync(perfMap, { force: true });
  }
  // What callgrind counted while counting was on, all threads together.
  const collected = /Collected : (\d+)/.exec(readFileSync(join(workDir, `${label}.err`), 'utf8'));
  if (!collected) throw new Error(`callgrind reported no count; see ${join(workDir, `${label}.err`)}`);
  return Number(collected[1]) / requests;
}

let byFunction: string | undefined;
const results: [string, number][] = [['working tree', await count('switchyard', repoRoot)]];
if (flags['baseline-dir']) results.push(['baseline', await count('baseline', flags['baseline-dir'])]);
if (flags.bare) results.push(['bare node:http proxy', await countBare()]);
await upstream.stop();
for (const [label, perRequest] of results)
  process.stdout.write(`${label}: ${Math.round(perRequest).toLocaleString('en-US')} instructions per request (${flags.stream ? 'stream' : 'non-stream'})\n`);
if (byFunction) process.stdout.write(`\nworking tree, instructions per request by function (self):\n${byFunction}\n\n`);
for (const [label, perRequest] of results.slice(1)) process.stdout.write(`working tree ÷ ${label}: ${(results[0]![1] / perRequest).toFixed(4)}\n`);
