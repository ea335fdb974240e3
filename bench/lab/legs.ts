import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runLoad, wrkVersion } from '../load.ts';
import { cell, spread } from '../report.ts';
import { killAll, scheduling } from '../services.ts';
import {
  baseHeaders,
  requestBody,
  requestPath,
  startNodeArgs,
  startTarget,
  startUpstream,
  targetLabels,
  type RunningTarget,
  type TargetName,
} from '../targets.ts';

// Where a proxy's time goes at one connection, split at its system calls:
// the request leg (from reading the client's request to writing it upstream)
// and the response leg (from reading the upstream's answer to writing it to
// the client) are the proxy's own work on the request's path; the rest is the
// kernel and the wake-ups between processes, which any proxy pays. `perf trace`
// stamps each system call of the proxy's main thread, so the legs come out to
// a microsecond or two from run to run where CPU time drifts ±10-15%.
//
//   npm run bench:legs -- [--targets switchyard,bare,nginx] [--baseline-dir DIR] [--rounds 3] [--seconds 1.5] [--delay-ms 0] [--nice=-10]
//
// --delay-ms makes the upstream wait before each answer, so the proxy idles
// that long between requests: on a VM whose idle CPU halts, the legs then show
// what a cold cache costs each proxy's own code (the low-rate scenarios' cost).
//
// The proxy runs on CPU 0, the upstream and wrk (one connection) on CPU 1, as
// in the benchmark's one-connection scenario. Needs perf (Debian: linux-perf)
// and the right to trace (root, or kernel.perf_event_paranoid <= -1).

const { values: flags } = parseArgs({
  options: {
    targets: { type: 'string', default: 'switchyard,bare,nginx' },
    'baseline-dir': { type: 'string' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '1.5' },
    nice: { type: 'string', default: '0' },
    'delay-ms': { type: 'string', default: '0' },
  },
});
scheduling.nice = Number(flags.nice);
if (!wrkVersion()) throw new Error('wrk is not installed (apt-get install -y wrk)');
if (spawnSync('perf', ['--version']).status !== 0) throw new Error('perf is not installed (apt-get install -y linux-perf)');
const names = flags.targets.split(',').map((name) => name.trim()) as TargetName[];
if (flags['baseline-dir'] && !names.includes('baseline')) names.push('baseline');
for (const name of names)
  if (!['switchyard', 'baseline', 'bare', 'nginx'].includes(name)) throw new Error(`--targets: ${name} is not switchyard, baseline, bare or nginx`);
const rounds = Number(flags.rounds);
const traceSeconds = Number(flags.seconds);

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const workDir = mkdtempSync(join(tmpdir(), 'switchyard-legs-'));
process.on('exit', () => {
  killAll();
  rmSync(workDir, { recursive: true, force: true });
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Legs {
  requestLeg: number[];
  responseLeg: number[];
  /** Microseconds per request in the socket reads and writes (the kernel's share of the path: copying, waking the peer). */
  socketIoUs: number;
  /** System calls of any kind per request. */
  calls: number;
}

/** The traced thread's sockets: to the upstream (by its port) and from clients (on the proxy's port). */
function socketRoles(pid: number, proxyPort: number, upstreamPort: number): Map<string, 'client' | 'upstream'> {
  const ports = new Map<string, { local: number; remote: number }>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      ports.set(fields[9]!, { local: parseInt(fields[1]!.split(':')[1]!, 16), remote: parseInt(fields[2]!.split(':')[1]!, 16) });
    }
  }
  const roles = new Map<string, 'client' | 'upstream'>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let link: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
    const socket = inode === undefined ? undefined : ports.get(inode);
    if (socket?.remote === upstreamPort) roles.set(fd, 'upstream');
    else if (socket?.local === proxyPort && socket.remote !== 0) roles.set(fd, 'client');
  }
  return roles;
}

const reads = new Set(['read', 'readv', 'recvfrom', 'recvmsg']);
const writes = new Set(['write', 'writev', 'sendto', 'sendmsg']);
const callLine = /^\s*([\d.]+) \(\s*([\d.]+) ms\): (\w+)\((?:fd: (\d+))?.*?\) += (-?\d+)/;

/** Reads a `perf trace` log: each leg is the gap from the end of a read to the start of the write it causes. */
function parseTrace(text: string, roles: Map<string, 'client' | 'upstream'>): Legs {
  const legs: Legs = { requestLeg: [], responseLeg: [], socketIoUs: 0, calls: 0 };
  let pending: { role: 'client' | 'upstream'; endMs: number } | undefined;
  let answered = 0;
  let socketIoMs = 0;
  for (const line of text.split('\n')) {
    const match = callLine.exec(line);
    if (!match) continue;
    const [, start, duration, name, fd, result] = match;
    const startMs = Number(start);
    legs.calls += 1;
    const role = fd === undefined ? undefined : roles.get(fd);
    if (role && (reads.has(name!) || writes.has(name!))) socketIoMs += Number(duration);
    if (reads.has(name!) && role && Number(result) > 0) pending = { role, endMs: startMs + Number(duration) };
    else if (writes.has(name!) && role && pending && role !== pending.role) {
      (pending.role === 'client' ? legs.requestLeg : legs.responseLeg).push((startMs - pending.endMs) * 1000);
      if (role === 'client') answered += 1;
      pending = undefined;
    }
  }
  legs.socketIoUs = (socketIoMs * 1000) / Math.max(1, answered);
  legs.calls /= Math.max(1, answered);
  return legs;
}

async function traceOnce(target: RunningTarget, upstreamPort: number): Promise<Legs> {
  // nginx's worker, not its master, answers; a Node.js target's main thread has the process's id.
  const pids = target.pids();
  const pid = pids[pids.length - 1]!;
  const request = { port: target.port, path: requestPath, headers: { ...baseHeaders, ...target.headers }, body: requestBody(false) };
  const load = runLoad(request, { generator: 'wrk', connections: 1, seconds: Math.ceil(traceSeconds + 2), cpus: '1', workDir });
  await sleep(1000);
  const roles = socketRoles(pid, target.port, upstreamPort);
  const out = join(workDir, `trace-${target.name}.txt`);
  const perf = spawn('perf', ['trace', '-t', String(pid), '-o', out], { stdio: 'ignore' });
  await sleep(traceSeconds * 1000);
  perf.kill('SIGINT');
  await new Promise((resolve) => perf.once('exit', resolve));
  const result = await load;
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${target.name}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return parseTrace(readFileSync(out, 'utf8'), roles);
}

const median = (values: readonly number[]) => spread(values)?.median ?? Number.NaN;
const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
/** Median of rounds (min–max), in µs with one decimal. */
const rounds1 = (values: readonly number[]) => cell(spread(values), 1);

const upstream = await startUpstream({ repoRoot, workDir, cpus: '1' });
const delayMs = Number(flags['delay-ms']);
const running: RunningTarget[] = [];
for (const name of names) {
  const outcome = await startTarget(name, {
    upstreamPort: upstream.port,
    upstreamPid: upstream.pid,
    workDir,
    cpus: '0',
    repoRoot,
    nodeArgs: { switchyard: [...startNodeArgs], baseline: [...startNodeArgs] },
    baselineDir: flags['baseline-dir'],
  });
  if (!outcome.ok) throw new Error(`${name} did not start: ${outcome.reason}`);
  running.push(outcome.target);
}
process.stderr.write(`warming up ${names.join(', ')}, then ${rounds} round(s) of ${traceSeconds} s traced per target\n`);
for (const target of running) {
  const request = { port: target.port, path: requestPath, headers: { ...baseHeaders, ...target.headers }, body: requestBody(false) };
  await runLoad(request, { generator: 'wrk', connections: 1, seconds: 3, cpus: '1', workDir });
}
if (delayMs > 0) await upstream.setDelay(delayMs);
const perRound = new Map<TargetName, Legs[]>(names.map((name) => [name, []]));
for (let round = 0; round < rounds; round += 1) {
  for (const target of running) perRound.get(target.name)!.push(await traceOnce(target, upstream.port));
  process.stderr.write(`round ${round + 1} done\n`);
}
for (const target of running) await target.stop();
await upstream.stop();

const lines = [
  `## Legs at one connection (perf trace of the proxy's main thread; ${rounds} rounds of ${traceSeconds} s; µs, median of rounds (min–max))`,
  '',
  '| target | request leg p50 | response leg p50 | both legs p50 | both legs mean | socket reads and writes per request | system calls per request |',
  '|---|---|---|---|---|---|---|',
];
for (const name of names) {
  const legs = perRound.get(name)!;
  const both = legs.map((round) => median(round.requestLeg) + median(round.responseLeg));
  const bothMean = legs.map((round) => mean(round.requestLeg) + mean(round.responseLeg));
  lines.push(
    `| ${targetLabels[name]} | ${rounds1(legs.map((round) => median(round.requestLeg)))} | ${rounds1(legs.map((round) => median(round.responseLeg)))} | ${rounds1(both)} | ${rounds1(bothMean)} | ${rounds1(legs.map((round) => round.socketIoUs))} | ${rounds1(legs.map((round) => round.calls))} |`,
  );
}
const reference = names.includes('bare') ? 'bare' : undefined;
if (reference) {
  const both = (name: TargetName) => perRound.get(name)!.map((round) => median(round.requestLeg) + median(round.responseLeg));
  for (const name of names.filter((other) => other !== reference)) {
    const differences = both(name).map((value, round) => value - both(reference)[round]!);
    lines.push('', `${targetLabels[name]} − ${targetLabels[reference]}, both legs p50, paired by round: ${rounds1(differences)} µs`);
  }
}
lines.push(
  '',
  'A leg: from the end of the read that brought the request (or the answer) to the start of the write that passes it on, on the traced thread; any system call in between counts in it (nginx makes some). Tracing adds a little to every system call, the same for each target.',
);
process.stdout.write(`${lines.join('\n')}\n`);
