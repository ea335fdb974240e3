import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runLoad, wrkVersion } from '../load.ts';
import { availableCores } from '../proc-stats.ts';
import { freePort, killAll } from '../services.ts';
import { baseHeaders, requestBody, requestPath, startNodeArgs, startTarget, startUpstream, type TargetName } from '../targets.ts';

// Bytes allocated per request, and by which functions, for Switchyard and (with
// --baseline-dir) another checkout under the same load. A CPU profile shows GC
// as one line; this shows who made the garbage. V8's sampling heap profiler is
// driven over the inspector with collected objects kept (`--heap-prof` keeps
// only what is still alive at exit, which for a proxy is almost nothing).
//
//   node bench/lab/allocations.ts [--baseline-dir DIR] [--stream] [--promoted] [--duration 8] [--top 30]

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    stream: { type: 'boolean', default: false },
    connections: { type: 'string', default: '50' },
    top: { type: 'string', default: '30' },
    'baseline-dir': { type: 'string' },
    'interval-bytes': { type: 'string', default: '4096' },
    // Only what outlived a young-generation GC: the objects that make scavenges slow and fill the old space.
    promoted: { type: 'boolean', default: false },
    // Extra V8 flags for both, e.g. --no-turbo-inlining to charge each allocation to its own function.
    'node-args': { type: 'string', default: '' },
  },
});

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const workDir = mkdtempSync(join(tmpdir(), 'switchyard-alloc-'));
const pin = availableCores() >= 2;
const generator = wrkVersion() ? 'wrk' : 'autocannon';
process.on('exit', killAll);

/** One inspector session over the global WebSocket client: send a method, await its result. */
async function inspectorSession(port: number) {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let nextId = 1;
  const waiting = new Map<number, (value: unknown) => void>();
  socket.onmessage = (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) waiting.get(message.id)?.(message.result);
  };
  return {
    send(method: string, params: object = {}): Promise<unknown> {
      const id = nextId++;
      socket.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve) => waiting.set(id, resolve));
    },
    close: () => socket.close(),
  };
}

function flatten(node: ProfileNode, into: Map<string, number>): number {
  let total = node.selfSize;
  if (node.selfSize > 0) {
    const url = node.callFrame.url.startsWith('file://') ? relative(repoRoot, fileURLToPath(node.callFrame.url)) : node.callFrame.url;
    const key = `${node.callFrame.functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '~/')}:${node.callFrame.lineNumber + 1}`;
    into.set(key, (into.get(key) ?? 0) + node.selfSize);
  }
  for (const child of node.children) total += flatten(child, into);
  return total;
}

async function measure(name: TargetName, upstream: Awaited<ReturnType<typeof startUpstream>>) {
  const inspectPort = await freePort();
  const outcome = await startTarget(name, {
    upstreamPort: upstream.port,
    upstreamPid: upstream.pid,
    workDir,
    cpus: pin ? '0' : undefined,
    repoRoot,
    baselineDir: flags['baseline-dir'],
    nodeArgs: { [name]: [`--inspect=127.0.0.1:${inspectPort}`, ...startNodeArgs, ...flags['node-args'].split(' ').filter(Boolean)] },
  });
  if (!outcome.ok) throw new Error(`${name} did not start: ${outcome.reason}`);
  const target = outcome.target;
  const request = { port: target.port, path: requestPath, headers: { ...baseHeaders }, body: requestBody(flags.stream) };
  const load = { generator, connections: Number(flags.connections), cpus: pin ? '1' : undefined, workDir } as const;
  await runLoad(request, { ...load, seconds: 2 });
  const session = await inspectorSession(inspectPort);
  await session.send('HeapProfiler.startSampling', {
    samplingInterval: Number(flags['interval-bytes']),
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: !flags.promoted,
  });
  const result = await runLoad(request, { ...load, seconds: Number(flags.duration) });
  const { profile } = (await session.send('HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } };
  session.close();
  await target.stop();
  const byFunction = new Map<string, number>();
  const total = flatten(profile.head, byFunction);
  return { name, requests: result.requests, total, byFunction };
}

const upstream = await startUpstream({ repoRoot, workDir, cpus: pin ? '1' : undefined });
const runs = [await measure('switchyard', upstream)];
if (flags['baseline-dir']) runs.push(await measure('baseline', upstream));
await upstream.stop();
rmSync(workDir, { recursive: true, force: true });

const lines = [
  `## Bytes ${flags.promoted ? 'promoted (outliving a young-generation GC)' : 'allocated'} per ${flags.stream ? 'streamed' : 'non-stream'} request, ${flags.connections} connections`,
  '',
];
for (const run of runs)
  lines.push(`- ${run.name}: ${Math.round(run.total / run.requests).toLocaleString('en-US')} B over ${run.requests.toLocaleString('en-US')} requests`);
const keys = new Set(runs.flatMap((run) => [...run.byFunction.keys()]));
const rows = [...keys].map((key) => ({ key, perRequest: runs.map((run) => (run.byFunction.get(key) ?? 0) / run.requests) }));
rows.sort((a, b) => Math.max(...b.perRequest) - Math.max(...a.perRequest));
lines.push('', `| function | ${runs.map((run) => `${run.name} B/req`).join(' | ')} |`, `|---|${runs.map(() => '---:').join('|')}|`);
for (const row of rows.slice(0, Number(flags.top))) lines.push(`| ${row.key} | ${row.perRequest.map((value) => Math.round(value)).join(' | ')} |`);
const report = lines.join('\n');
process.stdout.write(`${report}\n`);
writeFileSync(join(repoRoot, 'bench/results', `allocations-${flags.stream ? 'stream' : 'json'}.md`), `${report}\n`);
