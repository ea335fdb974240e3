import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runLoad, wrkVersion } from './load.ts';
import { availableCores, currentRss, peakRss } from './proc-stats.ts';
import { applyNice, fetchLocal, killAll, scheduling } from './services.ts';
import { baseHeaders, requestBody, requestPath, startNodeArgs, startTarget, startUpstream } from './targets.ts';

// Switchyard under steady 50-connection load for N minutes (half plain, half
// streamed requests), its memory sampled every 10 s: does it keep growing?
// Not part of CI.
//
//   node bench/soak.ts [--minutes 10] [--connections 50] [--interval 10] [--node-args "--max-semi-space-size=16"] [--nice=-10]
// Writes bench/results/soak-latest.md.

const { values: flags } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    interval: { type: 'string', default: '10' },
    'no-pin': { type: 'boolean', default: false },
    'node-args': { type: 'string', default: startNodeArgs.join(' ') },
    nice: { type: 'string', default: '0' },
  },
});
scheduling.nice = Number(flags.nice);
const nodeArgs = flags['node-args'].split(' ').filter(Boolean);

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const minutes = Number(flags.minutes);
const intervalMs = Number(flags.interval) * 1000;
const connections = Number(flags.connections);
const pin = !flags['no-pin'] && availableCores() >= 2;
const proxyCpus = pin ? '0' : undefined;
const loadCpus = pin ? '1' : undefined;
const workDir = mkdtempSync(join(tmpdir(), 'switchyard-soak-'));
process.on('exit', killAll);
process.on('SIGINT', () => process.exit(130));

interface Sample {
  seconds: number;
  rssMb: number;
  heapUsedMb: number | undefined;
  openFds: number;
}

/** Heap in use, from the gateway's own /metrics (prom-client's default process metrics). */
async function heapUsedMb(port: number): Promise<number | undefined> {
  const answer = await fetchLocal(port, '/metrics').catch(() => undefined);
  const match = answer?.body.match(/^nodejs_heap_size_used_bytes (\S+)$/m);
  return match ? Number(match[1]) / 1048576 : undefined;
}

function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** wrk sending plain and streamed requests in turn. */
function alternatingScript(headers: Record<string, string>): string {
  // wrk.format sends only the headers it is given: Host included (HTTP/1.1 requires it).
  const lua = (text: string) => `[==[${text}]==]`;
  const headerTable = `{ ${Object.entries(headers)
    .map(([name, value]) => `[ ${lua(name)} ] = ${lua(value)}`)
    .join(', ')} }`;
  return `local plain = wrk.format("POST", ${lua(requestPath)}, ${headerTable}, ${lua(requestBody(false))})
local streamed = wrk.format("POST", ${lua(requestPath)}, ${headerTable}, ${lua(requestBody(true))})
local count = 0
request = function()
  count = count + 1
  if count % 2 == 0 then return streamed end
  return plain
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"status":%d,"errors":%d}\\n', summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
`;
}

function runWrk(port: number, seconds: number): Promise<{ requests: number; status: number; errors: number }> {
  const script = join(workDir, 'soak.lua');
  writeFileSync(script, alternatingScript({ host: `127.0.0.1:${port}`, ...baseHeaders }));
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', script, `http://127.0.0.1:${port}${requestPath}`];
  const [command, argv] = loadCpus === undefined ? ['wrk', args] : ['taskset', ['-c', loadCpus, 'wrk', ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    applyNice(child);
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const line = out.split('\n').findLast((candidate) => candidate.startsWith('{'));
      if (line) resolve(JSON.parse(line) as { requests: number; status: number; errors: number });
      else reject(new Error(`wrk printed no summary: ${out.slice(0, 300)}`));
    });
  });
}

/** Least-squares slope of y over x. */
function slope(points: readonly [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  const numerator = points.reduce((sum, [x, y]) => sum + (x - meanX) * (y - meanY), 0);
  const denominator = points.reduce((sum, [x]) => sum + (x - meanX) ** 2, 0);
  return denominator === 0 ? 0 : numerator / denominator;
}

const upstream = await startUpstream({ repoRoot, workDir, cpus: loadCpus });
const outcome = await startTarget('switchyard', {
  upstreamPort: upstream.port,
  upstreamPid: upstream.pid,
  workDir,
  cpus: proxyCpus,
  repoRoot,
  nodeArgs: { switchyard: nodeArgs },
});
if (!outcome.ok) throw new Error(`Switchyard did not start: ${outcome.reason}`);
const target = outcome.target;
const pid = target.pids()[0]!;
const samples: Sample[] = [];
const startedAt = performance.now();
const sample = async () => {
  const entry: Sample = {
    seconds: Math.round((performance.now() - startedAt) / 1000),
    rssMb: currentRss(pid) / 1048576,
    heapUsedMb: await heapUsedMb(target.port),
    openFds: openFds(pid),
  };
  samples.push(entry);
  process.stderr.write(
    `  ${String(entry.seconds).padStart(5)} s  RSS ${entry.rssMb.toFixed(1)} MB  heap ${entry.heapUsedMb?.toFixed(1) ?? '?'} MB  fds ${entry.openFds}\n`,
  );
};

process.stderr.write(`soak: ${minutes} min of ${connections}-connection load on Switchyard (pid ${pid}), sampling every ${intervalMs / 1000} s\n`);
await sample();
const timer = setInterval(() => void sample(), intervalMs);
const seconds = Math.max(1, Math.round(minutes * 60));
const load = wrkVersion()
  ? await runWrk(target.port, seconds)
  : await runLoad(
      { port: target.port, path: requestPath, headers: baseHeaders, body: requestBody(false) },
      { generator: 'autocannon', connections, seconds, cpus: loadCpus, workDir },
    ).then((result) => ({ requests: result.requests, status: result.non2xx, errors: result.errors }));
clearInterval(timer);
await sample();
const peakMb = peakRss(pid) / 1048576;
await target.stop();
await upstream.stop();
rmSync(workDir, { recursive: true, force: true });

// Growth is judged after the first minute: V8 sizes its heap to the load first.
const settled = samples.filter((entry) => entry.seconds >= 60);
const basis = settled.length >= 2 ? settled : samples;
const first = basis[0]!;
const last = basis.at(-1)!;
const rssSlope = slope(basis.map((entry) => [entry.seconds / 60, entry.rssMb]));
const heapPoints = basis.filter((entry) => entry.heapUsedMb !== undefined).map((entry): [number, number] => [entry.seconds / 60, entry.heapUsedMb!]);
const lines = [
  `## Switchyard soak — ${new Date().toISOString()}`,
  '',
  `${minutes} min, ${connections} connections (plain and streamed requests in turn)${nodeArgs.length > 0 ? `, Switchyard started with ${nodeArgs.join(' ')}` : ''}, ${load.requests.toLocaleString('en-US')} requests, ${load.status} non-2xx, ${load.errors} socket errors.`,
  '',
  `| measure | value |`,
  `|---|---|`,
  `| RSS at ${first.seconds} s → ${last.seconds} s | ${first.rssMb.toFixed(1)} → ${last.rssMb.toFixed(1)} MB (${(last.rssMb - first.rssMb >= 0 ? '+' : '') + (last.rssMb - first.rssMb).toFixed(1)} MB) |`,
  `| RSS trend (least squares, from ${first.seconds} s) | ${rssSlope.toFixed(2)} MB/min |`,
  `| heap used trend | ${heapPoints.length >= 2 ? `${slope(heapPoints).toFixed(2)} MB/min` : '—'} |`,
  `| peak RSS (VmHWM) | ${peakMb.toFixed(1)} MB |`,
  `| open file descriptors, first → last | ${first.openFds} → ${last.openFds} |`,
  '',
  '| t (s) | RSS MB | heap used MB | open fds |',
  '|---|---|---|---|',
  ...samples.map((entry) => `| ${entry.seconds} | ${entry.rssMb.toFixed(1)} | ${entry.heapUsedMb?.toFixed(1) ?? '—'} | ${entry.openFds} |`),
];
const report = lines.join('\n');
process.stdout.write(`${report}\n`);
mkdirSync(join(repoRoot, 'bench/results'), { recursive: true });
writeFileSync(join(repoRoot, 'bench/results/soak-latest.md'), `${report}\n`);
