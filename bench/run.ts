import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus as cpuList, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runLoad, runProbe, wrkVersion, type LoadGenerator, type Request } from './load.ts';
import { availableCores, CpuWindow, peakRss } from './proc-stats.ts';
import { renderReport, scenarioNames, spread, type Measurement, type RunInfo, type Scenario } from './report.ts';
import { killAll, scheduling } from './services.ts';
import {
  baseHeaders,
  requestBody,
  requestPath,
  startNodeArgs,
  startTarget,
  startUpstream,
  targetNames,
  type RunningTarget,
  type TargetName,
  type Upstream,
} from './targets.ts';

// `npm run bench`: the same load against every target in one run, targets
// taking turns (within a round, in one-second slices), medians across rounds
// with min–max. See bench/README.md.

const usage = `usage: npm run bench -- [--targets switchyard,bare,...] [--duration S] [--rounds N] [--quick]
       [--streams N] [--connections N] [--loadgen wrk|autocannon] [--no-pin] [--no-delay] [--keep]
       [--scenarios ${scenarioNames.join(',')}]
       [--switchyard-node-args "--max-semi-space-size=16"] [--nice=-10] [--baseline-dir DIR] [--baseline-node-args "..."]
       [--latency-cpus split|shared]
targets: ${targetNames.join(', ')} (the upstream directly is always measured: it is the reference;
  baseline is Switchyard built from DIR, e.g. a git worktree of an earlier commit, for A/B of a change)`;

const { values: flags } = parseArgs({
  options: {
    targets: { type: 'string' },
    duration: { type: 'string' },
    rounds: { type: 'string' },
    quick: { type: 'boolean', default: false },
    streams: { type: 'string' },
    connections: { type: 'string', default: '50' },
    loadgen: { type: 'string' },
    'no-pin': { type: 'boolean', default: false },
    'no-delay': { type: 'boolean', default: false },
    scenarios: { type: 'string', default: scenarioNames.join(',') },
    keep: { type: 'boolean', default: false },
    // The same V8 flags as `npm start`, so the benchmark measures what users run.
    'switchyard-node-args': { type: 'string', default: startNodeArgs.join(' ') },
    'baseline-node-args': { type: 'string' },
    'latency-cpus': { type: 'string', default: 'split' },
    nice: { type: 'string', default: '0' },
    'baseline-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const quick = flags.quick;
const durationSeconds = Number(flags.duration ?? (quick ? 2 : 5));
const rounds = Number(flags.rounds ?? (quick ? 1 : 3));
const streams = Number(flags.streams ?? (quick ? 100 : 200));
const connections = Number(flags.connections);
const oneConnectionMs = Math.min(durationSeconds, 2.5) * 1000;
const warmupSeconds = quick ? 1 : 2;
const slowUpstreamMs = 50;
const chosen = flags.scenarios.split(',').map((name) => name.trim());
for (const name of chosen) if (!(scenarioNames as readonly string[]).includes(name)) throw new Error(`unknown scenario "${name}"\n${usage}`);
const switchyardNodeArgs = flags['switchyard-node-args'].split(' ').filter(Boolean);
// The baseline runs with the same flags unless told otherwise: `--baseline-dir . --baseline-node-args=...` A/Bs a V8 flag.
const baselineNodeArgs = (flags['baseline-node-args'] ?? flags['switchyard-node-args']).split(' ').filter(Boolean);
const defaultTargets = targetNames.filter((name) => name !== 'baseline' || flags['baseline-dir'] !== undefined);
const requested = (flags.targets ?? defaultTargets.join(','))
  .split(',')
  .map((name) => name.trim())
  .filter(Boolean);
for (const name of requested) if (!targetNames.includes(name as TargetName)) throw new Error(`unknown target "${name}"\n${usage}`);
const targets = targetNames.filter((name) => name === 'direct' || requested.includes(name));
const wrk = wrkVersion();
const generator: LoadGenerator = (flags.loadgen as LoadGenerator | undefined) ?? (wrk ? 'wrk' : 'autocannon');
if (generator === 'wrk' && !wrk) throw new Error('wrk is not installed (apt-get install -y wrk); or use --loadgen autocannon');
const pin = !flags['no-pin'] && availableCores() >= 2;
// The proxy gets CPU 0 to itself; the upstream and every client share CPU 1.
const proxyCpus = pin ? '0' : undefined;
const loadCpus = pin ? '1' : undefined;
// The one-connection scenarios (json1, ttfc) measure time, not CPU. Split, each
// request crosses between the CPUs four times (client → proxy → upstream →
// proxy → client), and on a VM whose idle CPU sleeps until woken, each crossing
// costs what the host takes to wake it (measured 2026-11-28: one round trip to
// the same upstream 17–20 µs on its own CPU, 93–96 µs across): a floor every
// proxy pays, nginx included. `--latency-cpus shared` moves each proxy onto the
// clients' CPU while those two scenarios run, so "added" is the proxy's own time.
// json1own is json1 with the proxy on the clients' CPU in every run: beside
// json1 it tells the proxy's own time from the machine's wake-ups.
const latencyCpus = flags['latency-cpus'];
if (latencyCpus !== 'split' && latencyCpus !== 'shared') throw new Error(`--latency-cpus is split or shared\n${usage}`);
const shareCpuForLatency = pin && latencyCpus === 'shared';
// Without pinning there is no "clients' CPU" to move to: json1own would only repeat json1.
if (!pin && chosen.includes('json1own')) chosen.splice(chosen.indexOf('json1own'), 1);

// On a machine shared with other work, a negative niceness (root only) keeps
// the benchmark's processes from being preempted by it; it slows the other work.
scheduling.nice = Number(flags.nice);
const workDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
const log = (text: string) => process.stderr.write(`${text}\n`);
const measurements: Measurement[] = [];
const peakRssBytes: Partial<Record<TargetName, number>> = {};
const versions: Partial<Record<TargetName, string>> = {};
const skipped: string[] = [];
const startedAt = performance.now();

process.on('SIGINT', () => {
  killAll();
  process.exit(130);
});
process.on('exit', killAll);

async function startAll(upstream: Upstream): Promise<RunningTarget[]> {
  const running: RunningTarget[] = [];
  for (const name of targets) {
    const outcome = await startTarget(name, {
      upstreamPort: upstream.port,
      upstreamPid: upstream.pid,
      workDir,
      cpus: proxyCpus,
      repoRoot,
      nodeArgs: { switchyard: switchyardNodeArgs, baseline: baselineNodeArgs },
      baselineDir: flags['baseline-dir'],
    });
    if (outcome.ok) {
      running.push(outcome.target);
      versions[name] =
        name === 'switchyard' && switchyardNodeArgs.length > 0 ? `${outcome.target.version}, node ${switchyardNodeArgs.join(' ')}` : outcome.target.version;
    } else {
      const line = `${name}: ${outcome.reason}`;
      if (!skipped.includes(line)) skipped.push(line);
      log(`skipped ${line}`);
    }
  }
  return running;
}

const request = (target: RunningTarget, stream: boolean): Request => ({
  port: target.port,
  path: requestPath,
  headers: { ...baseHeaders, ...target.headers },
  body: requestBody(stream),
});
const median = (values: readonly number[]) => spread(values)?.median ?? Number.NaN;

function record(entry: Measurement): void {
  measurements.push(entry);
  const rate = entry.rps === undefined ? '' : `${Math.round(entry.rps).toLocaleString('en-US')} req/s `;
  const cores = entry.coreShare === undefined ? '' : ` (${entry.coreShare.toFixed(2)} cores)`;
  const cpu = entry.cpuPerRequestUs === undefined ? '' : ` cpu ${Math.round(entry.cpuPerRequestUs)} µs/req${cores}`;
  const bad = entry.non2xx + entry.errors + (entry.incomplete ?? 0);
  log(
    `  ${entry.scenario.padEnd(8)} ${entry.target.padEnd(10)} ${rate}p50 ${entry.p50.toFixed(3)} ms p99 ${entry.p99.toFixed(3)} ms${cpu} others ${(entry.othersShare * 100).toFixed(0)}%${bad > 0 ? ` FAILED ${bad}` : ''}`,
  );
}

interface LoadTally {
  requests: number;
  seconds: number;
  cpuSeconds: number;
  latencySum: number;
  p50s: number[];
  p99s: number[];
  others: number[];
  non2xx: number;
  errors: number;
}

/**
 * The 50-connection scenarios. With the instant upstream the load runs in
 * one-second slices, the targets taking turns, so that a burst of other work
 * on the machine falls on every target alike; with the slow upstream each
 * target gets one longer run and its rate is connections ÷ mean latency
 * (Little's law), free of the rounding of whole 50 ms cycles to the run's end.
 */
async function loadScenario(scenario: 'json50' | 'stream50' | 'delay50', running: readonly RunningTarget[], upstream: Upstream, round: number): Promise<void> {
  const slow = scenario === 'delay50';
  const sliceSeconds = slow ? Math.min(durationSeconds, 4) : 1;
  const slices = slow ? 1 : Math.max(1, Math.round(durationSeconds));
  const tallies = new Map<RunningTarget, LoadTally>(
    running.map((target) => [target, { requests: 0, seconds: 0, cpuSeconds: 0, latencySum: 0, p50s: [], p99s: [], others: [], non2xx: 0, errors: 0 }]),
  );
  for (let slice = 0; slice < slices; slice += 1) {
    for (const target of rotate(running, round + slice)) {
      const tally = tallies.get(target)!;
      const window = new CpuWindow(target.pids(), target.name === 'direct' ? [] : [upstream.pid]);
      try {
        const result = await runLoad(request(target, scenario === 'stream50'), { generator, connections, seconds: sliceSeconds, cpus: loadCpus, workDir });
        const cpu = window.finish();
        tally.requests += result.requests;
        tally.seconds += result.seconds;
        tally.cpuSeconds += cpu.targetCpuSeconds;
        tally.latencySum += result.mean * result.requests;
        tally.p50s.push(result.p50);
        tally.p99s.push(result.p99);
        tally.others.push(cpu.othersMachineShare);
        tally.non2xx += result.non2xx;
        tally.errors += result.errors;
      } catch (error) {
        tally.errors += 1;
        log(`  ${scenario} ${target.name}: load failed: ${(error as Error).message}`);
      }
    }
  }
  for (const [target, tally] of tallies) {
    const meanMs = tally.latencySum / Math.max(1, tally.requests);
    record({
      scenario,
      target: target.name,
      round,
      requests: tally.requests,
      non2xx: tally.non2xx,
      errors: tally.errors,
      p50: median(tally.p50s),
      p99: median(tally.p99s),
      rps: tally.requests === 0 ? Number.NaN : slow ? connections / (meanMs / 1000) : tally.requests / tally.seconds,
      cpuPerRequestUs: tally.requests > 0 ? (tally.cpuSeconds * 1e6) / tally.requests : Number.NaN,
      coreShare: tally.seconds > 0 ? tally.cpuSeconds / tally.seconds : Number.NaN,
      othersShare: tally.others.reduce((sum, share) => sum + share, 0) / Math.max(1, tally.others.length),
    });
  }
}

/** Moves every thread of every target's processes to the CPU list given. */
function repin(running: readonly RunningTarget[], upstreamPid: number, cpus: string): void {
  for (const target of running) {
    for (const pid of target.pids()) {
      if (pid === upstreamPid) continue; // "direct" is the upstream itself, already there
      const moved = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { encoding: 'utf8' });
      if (moved.status !== 0) throw new Error(`taskset could not move ${target.name} (pid ${pid}): ${moved.stderr.trim()}`);
    }
  }
}

/** One connection per target, the targets taking turns in slices inside one client process. */
async function probeScenario(scenario: 'json1' | 'json1own' | 'ttfc', running: readonly RunningTarget[], upstream: Upstream, round: number): Promise<void> {
  const ttfc = scenario === 'ttfc';
  const shareCpu = pin && (shareCpuForLatency || scenario === 'json1own');
  const slices = 5;
  const window = new CpuWindow([], [upstream.pid, ...running.flatMap((target) => target.pids())]);
  const order = rotate(running, round);
  if (shareCpu) repin(running, upstream.pid, loadCpus!);
  const output = await runProbe(
    {
      mode: ttfc ? 'ttfc' : 'latency',
      targets: order.map((target) => ({ name: target.name, port: target.port, headers: { ...baseHeaders, ...target.headers }, pids: target.pids() })),
      path: requestPath,
      body: requestBody(ttfc),
      slices,
      sliceMs: oneConnectionMs / slices,
      streamsPerSlice: Math.max(1, Math.round(streams / slices)),
      warmupMs: 300,
    },
    loadCpus,
  ).finally(() => {
    if (shareCpu) repin(running, upstream.pid, proxyCpus!);
  });
  const othersShare = window.finish().othersMachineShare;
  for (const target of order) {
    const result = output.results[target.name];
    if (!result) continue;
    record({
      scenario,
      target: target.name,
      round,
      requests: result.requests,
      non2xx: result.non2xx,
      errors: result.errors,
      p50: result.p50,
      p99: result.p99,
      othersShare,
      incomplete: result.incomplete,
      cpuPerRequestUs: result.cpuPerRequestUs,
    });
  }
}

// This machine may be shared (other test suites on the same two cores): each
// scenario of each round starts at a quiet moment if one comes soon enough.
const quietShare = 0.1;
const quiet = { waitBudgetMs: quick ? 10_000 : 30_000, waitedMs: 0 };

async function waitForQuiet(ownPids: readonly number[]): Promise<void> {
  while (quiet.waitedMs < quiet.waitBudgetMs) {
    const window = new CpuWindow([], ownPids);
    await new Promise((resolve) => setTimeout(resolve, 500));
    quiet.waitedMs += 500;
    if (window.finish().othersMachineShare < quietShare) return;
  }
}

function recordPeakRss(running: readonly RunningTarget[]): void {
  for (const target of running) {
    const bytes = target.pids().reduce((sum, pid) => sum + peakRss(pid), 0);
    peakRssBytes[target.name] = Math.max(peakRssBytes[target.name] ?? 0, bytes);
  }
}

/** Rotates the order each round so that no target is always first (or always right after another). */
const rotate = <T>(items: readonly T[], by: number): T[] => items.map((_, index) => items[(index + by) % items.length]!);

async function runRounds(scenarios: Scenario[], running: readonly RunningTarget[], upstream: Upstream): Promise<void> {
  const ownPids = [upstream.pid, ...running.flatMap((target) => target.pids())];
  for (let round = 1; round <= rounds; round += 1) {
    log(`round ${round}/${rounds}`);
    for (const scenario of scenarios) {
      await waitForQuiet(ownPids);
      try {
        if (scenario === 'json1' || scenario === 'json1own' || scenario === 'ttfc') await probeScenario(scenario, running, upstream, round);
        else await loadScenario(scenario, running, upstream, round);
      } catch (error) {
        log(`  ${scenario}: measurement failed: ${(error as Error).message}`);
      }
    }
  }
}

async function warmUp(running: readonly RunningTarget[], streams: boolean[]): Promise<void> {
  log(`warming up ${running.map((target) => target.name).join(', ')}`);
  for (const target of running) {
    for (const stream of streams) {
      await runLoad(request(target, stream), { generator, connections, seconds: stream ? 1 : warmupSeconds, cpus: loadCpus, workDir }).catch((error: unknown) =>
        log(`  warm-up of ${target.name} failed: ${(error as Error).message}`),
      );
    }
  }
}

// One set of processes for the whole run: the 50 ms phase reuses the warm
// proxies (a restart would measure JIT warm-up, not steady state).
const upstream = await startUpstream({ repoRoot, workDir, cpus: loadCpus });
const running = await startAll(upstream);
try {
  const instant = (['json50', 'stream50', 'json1', 'json1own', 'ttfc'] as const).filter((scenario) => chosen.includes(scenario));
  if (instant.length > 0) {
    log('\n== upstream answering at once');
    await warmUp(running, [false, true]);
    await runRounds(instant, running, upstream);
  }
  if (!flags['no-delay'] && chosen.includes('delay50')) {
    log(`\n== upstream answering after ${slowUpstreamMs} ms`);
    if (instant.length === 0) await warmUp(running, [false, true]); // JIT-warm at full rate first
    await upstream.setDelay(slowUpstreamMs);
    await warmUp(running, [false]);
    await runRounds(['delay50'], running, upstream);
  }
  recordPeakRss(running);
} finally {
  for (const target of running) await target.stop();
  await upstream.stop();
}

const cpu = cpuList()[0]?.model ?? 'unknown CPU';
const info: RunInfo = {
  date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  machine: `${availableCores()} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}`,
  loadGenerator: generator === 'wrk' ? `wrk ${wrk} (1 thread)` : 'autocannon',
  pinning: `${pin ? `proxy pinned to CPU 0, upstream and clients to CPU 1 (taskset)${shareCpuForLatency ? '; for the one-connection and first-chunk scenarios the proxy moves to CPU 1 too (--latency-cpus shared)' : ''}` : 'no CPU pinning'}${scheduling.nice !== 0 ? `, benchmark processes at nice ${scheduling.nice}` : ''}`,
  durationSeconds,
  rounds,
  connections,
  streams,
  versions,
  skipped,
  peakRssBytes,
  totalSeconds: (performance.now() - startedAt) / 1000,
  quietWaitSeconds: quiet.waitedMs / 1000,
};
const report = renderReport(
  measurements,
  info,
  targets.filter((name) => measurements.some((m) => m.target === name)),
);
process.stdout.write(`\n${report}\n`);
const resultsDir = join(repoRoot, 'bench/results');
mkdirSync(resultsDir, { recursive: true });
writeFileSync(join(resultsDir, 'latest.md'), `${report}\n`);
writeFileSync(join(resultsDir, 'latest.json'), `${JSON.stringify({ info, measurements }, null, 1)}\n`);
log(`\nwritten: bench/results/latest.md, bench/results/latest.json${flags.keep ? `; logs kept in ${workDir}` : ''}`);
if (!flags.keep) rmSync(workDir, { recursive: true, force: true });
