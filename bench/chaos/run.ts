import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createPrng } from '../../src/sim/prng.ts';
import { createSimulatedProvider } from '../../src/sim/simulated-provider.ts';
import { killAll } from '../services.ts';
import { buildGateway, nginxVersion } from '../targets.ts';
import { actionKinds, chaosLoop, type ChaosSettings } from './chaos-loop.ts';
import { startCluster, Timeline } from './cluster.ts';
import { countNginxErrors, renderFailures, renderSummary, summarise } from './report.ts';
import { simOptions } from './scenario.ts';
import { startTraffic } from './traffic.ts';

// `npm run bench:chaos`: three `switchyard serve` replicas behind nginx,
// sharing a Redis, two simulated providers (one busy), the official OpenAI
// SDK sending steady traffic, and a loop that kills and stops replicas and
// Redis at random. What the application saw is printed and written as JSON.
// Not part of CI. See bench/README.md, "Chaos drill".

const usage = `usage: npm run bench:chaos -- [--duration 180] [--smoke] [--concurrency 24] [--replicas 3]
       [--gap 6-14] [--down 1-4] [--actions sigkill-replica,sigterm-replica,kill-redis,pause-redis]
       [--seed 1] [--out FILE.json] [--keep]`;

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '24' },
    replicas: { type: 'string', default: '3' },
    gap: { type: 'string' },
    down: { type: 'string', default: '1-4' },
    actions: { type: 'string', default: actionKinds.map((kind) => kind.replace(' ', '-')).join(',') },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

/** Seconds: `180`, `90s` or `3m`. */
function seconds(name: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(s|m)?$/.exec(text);
  if (!match) throw new Error(`--${name} takes seconds (180, 90s, 3m), got "${text}"\n${usage}`);
  return Number(match[1]) * (match[2] === 'm' ? 60 : 1);
}

/** A range of seconds `low-high`, as ms. */
function secondsRange(name: string, text: string): [number, number] {
  const match = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(text);
  if (!match || Number(match[1]) > Number(match[2])) throw new Error(`--${name} takes a range of seconds like 6-14, got "${text}"\n${usage}`);
  return [Number(match[1]) * 1000, Number(match[2]) * 1000];
}

function wholeNumber(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} needs a whole number of at least ${min}, got "${text}"\n${usage}`);
  return value;
}

// The smoke run: 45 s, an action every 5–8 s, so most kinds happen once. Actions closer together than
// nginx's fail_timeout (10 s) can leave every replica marked failed at once (bench/README.md, "Chaos drill").
const durationMs = seconds('duration', flags.duration ?? (flags.smoke ? '45' : '180')) * 1000;
const kinds = flags.actions.split(',').map((name) => {
  const kind = actionKinds.find((candidate) => candidate.replace(' ', '-') === name.trim());
  if (!kind) throw new Error(`--actions: unknown action "${name}"\n${usage}`);
  return kind;
});
const settings: ChaosSettings = { gapMs: secondsRange('gap', flags.gap ?? (flags.smoke ? '5-8' : '6-14')), downMs: secondsRange('down', flags.down), kinds };
const concurrency = wholeNumber('concurrency', flags.concurrency, 1);
const replicaCount = wholeNumber('replicas', flags.replicas, 2);
const seed = wholeNumber('seed', flags.seed, 0);
// No action in the last stretch: every piece is back before the traffic stops.
const settleMs = Math.min(10_000, durationMs / 4);

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const workDir = mkdtempSync(join(tmpdir(), 'switchyard-chaos-'));
const log = (line = '') => process.stdout.write(`${line}\n`);
process.on('exit', killAll);
process.on('SIGINT', () => process.exit(130));

if (!existsSync('/usr/bin/redis-server')) throw new Error('the drill needs /usr/bin/redis-server (apt-get install -y redis-server)');
if (nginxVersion() === undefined) throw new Error('the drill needs nginx (apt-get install -y nginx)');
log(
  `# chaos drill — ${new Date().toISOString()} — ${cpus().length} cores, Node ${process.version}, nginx ${nginxVersion()}, load average ${loadavg()[0]!.toFixed(2)} at start`,
);
log(
  `  ${replicaCount} replicas behind nginx, one Redis; ${concurrency} SDK callers for ${durationMs / 1000} s; actions: ${kinds.join(', ')}, one every ${settings.gapMs.map((ms) => ms / 1000).join('–')} s, pieces down ${settings.downMs.map((ms) => ms / 1000).join('–')} s; seed ${seed}; work folder ${workDir}`,
);

buildGateway(repoRoot, repoRoot);
const options = simOptions(seed);
const busy = createSimulatedProvider(options.busy);
const steady = createSimulatedProvider(options.steady);
const busyUrl = (await busy.listen()).url;
const steadyUrl = (await steady.listen()).url;

const timeline = new Timeline();
const cluster = await startCluster({ replicas: replicaCount, workDir, repoRoot, timeline, busyUrl, steadyUrl });
log(`  nginx on ${cluster.nginx.port}; ${cluster.replicas.map((replica) => `${replica.name} on ${replica.port}`).join(', ')}; Redis on ${cluster.redis.port}`);
const chatCalls = () => ({ busy: busy.stats.total - busy.stats.models, steady: steady.stats.total - steady.stats.models });
const before = chatCalls();

const started = performance.now();
const traffic = startTraffic({ baseURL: `http://127.0.0.1:${cluster.nginx.port}/v1`, concurrency, seed, now: () => timeline.now() });
const chaos = chaosLoop({ cluster, settings, timeline, prng: createPrng(seed + 100), endsAt: timeline.now() + durationMs - settleMs });
const progress = setInterval(() => {
  const failed = traffic.records.filter((record) => !record.ok).length;
  log(
    `  ${Math.round(timeline.now() / 1000)} s: ${traffic.records.length} requests, ${failed} failed; ${timeline.events.filter((event) => ['sigkill', 'sigterm', 'sigstop'].includes(event.what)).length} actions`,
  );
}, 15_000);
await sleep(durationMs);
const actions = await chaos;
await traffic.stop(60_000);
const wallSeconds = (performance.now() - started) / 1000;
clearInterval(progress);
const after = chatCalls();

const nginxErrors = countNginxErrors(existsSync(cluster.nginx.errorLog) ? readFileSync(cluster.nginx.errorLog, 'utf8') : '');
await Promise.all([cluster.nginx, ...cluster.replicas, cluster.redis].map((piece) => piece.signal('SIGTERM')));
await Promise.all([busy.close(), steady.close()]);

const summary = summarise({
  records: traffic.records,
  actions,
  events: timeline.events,
  replicaByPort: new Map(cluster.replicas.map((replica) => [replica.port, replica.name])),
  upstreamCalls: { busy: after.busy - before.busy, steady: after.steady - before.steady },
  nginxErrors,
  wallSeconds,
});
log();
log(renderSummary(summary));
if (summary.failureDetails.length > 0) {
  log();
  log('Each client-visible failure:');
  log(renderFailures(summary.failureDetails));
}

const resultsDir = join(repoRoot, 'bench/results');
mkdirSync(resultsDir, { recursive: true });
const out = flags.out ?? join(resultsDir, 'chaos-latest.json');
const settingsOut = { durationMs, concurrency, replicas: replicaCount, seed, gapMs: settings.gapMs, downMs: settings.downMs, actions: kinds };
writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), settings: settingsOut, summary, actions, events: timeline.events }, null, 2)}\n`);
log();
log(`wrote ${out}`);
if (flags.keep || summary.requests.failed > 0) log(`kept the replicas' logs, nginx's and Redis's in ${workDir}`);
else rmSync(workDir, { recursive: true, force: true });
process.exit(0);
