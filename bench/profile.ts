import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderSummary, summariseProfile, type CpuProfile } from './cpu-profile-summary.ts';
import { runLoad, wrkVersion } from './load.ts';
import { availableCores } from './proc-stats.ts';
import { killAll, scheduling } from './services.ts';
import { baseHeaders, requestBody, requestPath, startNodeArgs, startTarget, startUpstream, targetLabels, type TargetName } from './targets.ts';

// Switchyard (or another Node.js target, to compare) under the benchmark's
// load with --cpu-prof, and where its time went: only the samples taken while
// the measured load ran are counted (start-up and warm-up are left out).
//
//   node bench/profile.ts [--target switchyard|bare|portkey] [--duration 10] [--stream] [--connections 50] [--delay-ms 50] [--node-args "..."] [--nice=-10] [--shared-cpu]
// --delay-ms makes the upstream wait before answering: the delay50 scenario's low, bursty rate.
// --shared-cpu puts the proxy on the load's CPU (as `npm run bench -- --latency-cpus shared`): at one
// connection every cost of the proxy is then on the request's path, cross-CPU wake-ups are not.
// Writes bench/results/profiles/*.cpuprofile (open in Chrome DevTools) and bench/results/profile-TARGET-json|stream.md.

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    stream: { type: 'boolean', default: false },
    connections: { type: 'string', default: '50' },
    'no-pin': { type: 'boolean', default: false },
    top: { type: 'string', default: '25' },
    target: { type: 'string', default: 'switchyard' },
    // Default for Switchyard: the same V8 flags as `npm start`.
    'node-args': { type: 'string' },
    nice: { type: 'string', default: '0' },
    'delay-ms': { type: 'string', default: '0' },
    'shared-cpu': { type: 'boolean', default: false },
  },
});
scheduling.nice = Number(flags.nice);
const nodeArgs = flags['node-args'] === undefined ? (flags.target === 'switchyard' ? [...startNodeArgs] : []) : flags['node-args'].split(' ').filter(Boolean);

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const profileDir = join(repoRoot, 'bench/results/profiles');
mkdirSync(profileDir, { recursive: true });
const workDir = mkdtempSync(join(tmpdir(), 'switchyard-profile-'));
const pin = !flags['no-pin'] && availableCores() >= 2;
const loadCpus = pin ? '1' : undefined;
const proxyCpus = pin ? (flags['shared-cpu'] ? loadCpus : '0') : undefined;
const generator = wrkVersion() ? 'wrk' : 'autocannon';
const stream = flags.stream;
const targetName = flags.target as TargetName;
if (!['switchyard', 'bare', 'portkey'].includes(targetName)) throw new Error('--target must be switchyard, bare or portkey');
const name = `${targetName}-${stream ? 'stream' : 'json'}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`;
process.on('exit', killAll);

const upstream = await startUpstream({ repoRoot, workDir, cpus: loadCpus });
const outcome = await startTarget(targetName, {
  upstreamPort: upstream.port,
  upstreamPid: upstream.pid,
  workDir,
  cpus: proxyCpus,
  repoRoot,
  nodeArgs: { [targetName]: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}`, ...nodeArgs] },
});
if (!outcome.ok) throw new Error(`${targetName} did not start: ${outcome.reason}`);
const target = outcome.target;
const delayMs = Number(flags['delay-ms']);
if (delayMs > 0) await upstream.setDelay(delayMs);
const request = { port: target.port, path: requestPath, headers: { ...baseHeaders, ...target.headers }, body: requestBody(stream) };
const loadOptions = { generator, connections: Number(flags.connections), cpus: loadCpus, workDir } as const;

process.stderr.write(`warming up, then ${flags.duration} s of ${flags.connections}-connection ${stream ? 'stream' : 'non-stream'} load (${generator})\n`);
await runLoad(request, { ...loadOptions, seconds: 2 });
// The profile's clock is the monotonic one, like process.hrtime: keep the samples of the measured load only.
const fromUs = Number(process.hrtime.bigint() / 1000n);
const result = await runLoad(request, { ...loadOptions, seconds: Number(flags.duration) });
const toUs = Number(process.hrtime.bigint() / 1000n);
await target.stop();
await upstream.stop();
rmSync(workDir, { recursive: true, force: true });

const file = readdirSync(profileDir).find((entry) => entry === name);
if (!file) throw new Error(`no profile was written to ${profileDir}`);
const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as CpuProfile;
const summary = summariseProfile(profile, { ownRoot: repoRoot, top: Number(flags.top), fromUs, toUs });
const report = [
  `## ${targetLabels[targetName]} CPU profile — ${stream ? 'stream' : 'non-stream'}, ${flags.connections} connections${delayMs > 0 ? `, upstream waiting ${delayMs} ms` : ''}${flags['shared-cpu'] ? ", proxy on the load's CPU" : ''}, ${new Date().toISOString()}`,
  '',
  `Load: ${Math.round(result.rps).toLocaleString('en-US')} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, ${result.non2xx} non-2xx, ${result.errors} errors (profiling slows the process). Profile: bench/results/profiles/${file}.`,
  '',
  renderSummary(summary),
].join('\n');
process.stdout.write(`${report}\n`);
writeFileSync(join(repoRoot, 'bench/results', `profile-${targetName}-${stream ? 'stream' : 'json'}.md`), `${report}\n`);
