import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus as cpuList, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runLoad, runProbe, wrkVersion, type LoadGenerator, type LoadResult, type Request } from './load.ts';
import { availableCores, CpuWindow, peakRss } from './proc-stats.ts';
import { renderReport, type Measurement, type RunInfo, type Scenario } from './report.ts';
import { killAll } from './services.ts';
import { baseHeaders, requestBody, requestPath, startTarget, startUpstream, targetNames, type RunningTarget, type TargetName, type Upstream } from './targets.ts';

// `npm run bench`: the same load against every target in one run, targets
// alternated round by round, medians with min–max. See bench/README.md.

const usage = `usage: npm run bench -- [--targets switchyard,bare,...] [--duration S] [--rounds N] [--quick]
       [--streams N] [--connections N] [--loadgen wrk|autocannon] [--no-pin] [--no-delay] [--keep]
targets: ${targetNames.join(', ')} (the upstream directly is always measured: it is the baseline)`;

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
    keep: { type: 'boolean', default: false },
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
const requested = (flags.targets ?? targetNames.join(',')).split(',').map((name) => name.trim()).filter(Boolean);
for (const name of requested) if (!targetNames.includes(name as TargetName)) throw new Error(`unknown target "${name}"\n${usage}`);
const targets = targetNames.filter((name) => name === 'direct' || requested.includes(name));
const wrk = wrkVersion();
const generator: LoadGenerator = (flags.loadgen as LoadGenerator | undefined) ?? (wrk ? 'wrk' : 'autocannon');
if (generator === 'wrk' && !wrk) throw new Error('wrk is not installed (apt-get install -y wrk); or use --loadgen autocannon');
const pin = !flags['no-pin'] && availableCores() >= 2;
// The proxy gets CPU 0 to itself; the upstream and every client share CPU 1.
const proxyCpus = pin ? '0' : undefined;
const loadCpus = pin ? '1' : undefined;

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
    const outcome = await startTarget(name, { upstreamPort: upstream.port, upstreamPid: upstream.pid, workDir, cpus: proxyCpus, repoRoot });
    if (outcome.ok) {
      running.push(outcome.target);
      versions[name] = outcome.target.version;
    } else {
      const line = `${name}: ${outcome.reason}`;
      if (!skipped.includes(line)) skipped.push(line);
      log(`skipped ${line}`);
    }
  }
  return running;
}

const request = (target: RunningTarget, stream: boolean): Request => ({ port: target.port, path: requestPath, headers: { ...baseHeaders, ...target.headers }, body: requestBody(stream) });

async function measureLoad(target: RunningTarget, upstream: Upstream, stream: boolean): Promise<LoadResult & { cpuPerRequestUs: number; coreShare: number; othersShare: number }> {
  const ownPids = target.name === 'direct' ? [] : [upstream.pid];
  const window = new CpuWindow(target.pids(), ownPids);
  const result = await runLoad(request(target, stream), { generator, connections, seconds: durationSeconds, cpus: loadCpus, workDir });
  const cpu = window.finish();
  return { ...result, cpuPerRequestUs: result.requests > 0 ? (cpu.targetCpuSeconds * 1e6) / result.requests : Number.NaN, coreShare: cpu.targetCoreShare, othersShare: cpu.othersMachineShare };
}

async function measureOnce(scenario: Scenario, target: RunningTarget, upstream: Upstream, round: number): Promise<Measurement> {
  if (scenario === 'json1' || scenario === 'ttfc') {
    const window = new CpuWindow(target.pids(), target.name === 'direct' ? [] : [upstream.pid]);
    const ttfc = scenario === 'ttfc';
    const probe = await runProbe({ mode: ttfc ? 'ttfc' : 'latency', ...request(target, ttfc), durationMs: oneConnectionMs, count: streams, warmupMs: 400 }, loadCpus);
    return { scenario, target: target.name, round, requests: probe.requests, non2xx: probe.non2xx, errors: probe.errors, p50: probe.p50, p99: probe.p99, othersShare: window.finish().othersMachineShare, incomplete: probe.incomplete };
  }
  const result = await measureLoad(target, upstream, scenario === 'stream50');
  return { scenario, target: target.name, round, ...result };
}

// This machine may be shared (another test suite on the same two cores). A
// measurement waits for a quiet moment, and one taken while other processes
// used much of the machine is taken again, within a bounded budget.
const quietShare = 0.1;
const noisyShare = 0.2;
const quiet = { waitBudgetMs: quick ? 15_000 : 45_000, waitedMs: 0, retriesLeft: quick ? 1 : 4, retries: 0 };

async function waitForQuiet(ownPids: readonly number[]): Promise<void> {
  while (quiet.waitedMs < quiet.waitBudgetMs) {
    const window = new CpuWindow([], ownPids);
    await new Promise((resolve) => setTimeout(resolve, 500));
    quiet.waitedMs += 500;
    if (window.finish().othersMachineShare < quietShare) return;
  }
}

async function measure(scenario: Scenario, target: RunningTarget, upstream: Upstream, round: number, running: readonly RunningTarget[]): Promise<void> {
  const ownPids = [upstream.pid, ...running.flatMap((each) => each.pids())];
  await waitForQuiet(ownPids);
  let entry = await measureOnce(scenario, target, upstream, round);
  if (entry.othersShare > noisyShare && quiet.retriesLeft > 0) {
    quiet.retriesLeft -= 1;
    quiet.retries += 1;
    log(`  ${scenario.padEnd(8)} ${target.name.padEnd(10)} other processes used ${(entry.othersShare * 100).toFixed(0)}% of the machine: measuring again`);
    await waitForQuiet(ownPids);
    entry = await measureOnce(scenario, target, upstream, round);
  }
  measurements.push(entry);
  const rate = entry.rps === undefined ? '' : `${Math.round(entry.rps).toLocaleString('en-US')} req/s `;
  const cpu = entry.cpuPerRequestUs === undefined ? '' : ` cpu ${Math.round(entry.cpuPerRequestUs)} µs/req (${(entry.coreShare ?? 0).toFixed(2)} cores)`;
  const bad = entry.non2xx + entry.errors + (entry.incomplete ?? 0);
  log(`  ${scenario.padEnd(8)} ${target.name.padEnd(10)} ${rate}p50 ${entry.p50.toFixed(3)} ms p99 ${entry.p99.toFixed(3)} ms${cpu} others ${(entry.othersShare * 100).toFixed(0)}%${bad > 0 ? ` FAILED ${bad}` : ''}`);
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
  for (let round = 1; round <= rounds; round += 1) {
    log(`round ${round}/${rounds}`);
    for (const scenario of scenarios) {
      for (const target of rotate(running, round - 1)) {
        try {
          await measure(scenario, target, upstream, round, running);
        } catch (error) {
          log(`  ${scenario} ${target.name}: measurement failed: ${(error as Error).message}`);
          measurements.push({ scenario, target: target.name, round, requests: 0, non2xx: 0, errors: 1, p50: Number.NaN, p99: Number.NaN, othersShare: 0 });
        }
      }
    }
  }
}

async function warmUp(running: readonly RunningTarget[], streams: boolean[]): Promise<void> {
  log(`warming up ${running.map((target) => target.name).join(', ')}`);
  for (const target of running) {
    for (const stream of streams) {
      await runLoad(request(target, stream), { generator, connections, seconds: warmupSeconds, cpus: loadCpus, workDir }).catch((error: unknown) => log(`  warm-up of ${target.name} failed: ${(error as Error).message}`));
    }
  }
}

// One set of processes for the whole run: the 50 ms phase reuses the warm
// proxies (a restart would measure JIT warm-up, not steady state).
const upstream = await startUpstream({ repoRoot, workDir, cpus: loadCpus });
const running = await startAll(upstream);
try {
  log('\n== upstream answering at once');
  await warmUp(running, [false, true]);
  await runRounds(['json50', 'stream50', 'json1', 'ttfc'], running, upstream);
  if (!flags['no-delay']) {
    log(`\n== upstream answering after ${slowUpstreamMs} ms`);
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
  pinning: pin ? 'proxy pinned to CPU 0, upstream and clients to CPU 1 (taskset)' : 'no CPU pinning',
  durationSeconds,
  rounds,
  connections,
  streams,
  versions,
  skipped,
  peakRssBytes,
  totalSeconds: (performance.now() - startedAt) / 1000,
  quietWaitSeconds: quiet.waitedMs / 1000,
  retries: quiet.retries,
};
const report = renderReport(measurements, info, targets.filter((name) => measurements.some((m) => m.target === name)));
process.stdout.write(`\n${report}\n`);
const resultsDir = join(repoRoot, 'bench/results');
mkdirSync(resultsDir, { recursive: true });
writeFileSync(join(resultsDir, 'latest.md'), `${report}\n`);
writeFileSync(join(resultsDir, 'latest.json'), `${JSON.stringify({ info, measurements }, null, 1)}\n`);
log(`\nwritten: bench/results/latest.md, bench/results/latest.json${flags.keep ? `; logs kept in ${workDir}` : ''}`);
if (!flags.keep) rmSync(workDir, { recursive: true, force: true });
