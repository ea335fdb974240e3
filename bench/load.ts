import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProbeJob, ProbeOutput } from './probe.ts';
import { applyNice } from './services.ts';

// Running one measurement against one target: the 50-connection load (wrk,
// or autocannon when asked or when wrk is missing) and the one-connection
// probes (bench/probe.ts). Every load process is pinned to the CPU set given,
// away from the proxy under test.

export type LoadGenerator = 'wrk' | 'autocannon';

export interface Request {
  port: number;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface LoadResult {
  rps: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  mean: number;
  requests: number;
  non2xx: number;
  errors: number;
  seconds: number;
}

const probeScript = new URL('./probe.ts', import.meta.url).pathname;

export function wrkVersion(): string | undefined {
  const result = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  if (result.error) return undefined;
  return /wrk (\S+)/.exec(`${result.stdout}${result.stderr}`)?.[1] ?? 'unknown';
}

function pinned(cpus: string | undefined, command: string, args: string[]): [string, string[]] {
  return cpus === undefined ? [command, args] : ['taskset', ['-c', cpus, command, ...args]];
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    applyNice(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 && out.includes('{') ? resolve(out) : reject(new Error(`${command} exited ${code}: ${(err + out).trim().slice(0, 500)}`)),
    );
  });
}

function lastJsonLine<T>(text: string): T {
  const line = text
    .trim()
    .split('\n')
    .findLast((candidate) => candidate.startsWith('{'));
  if (!line) throw new Error(`no result in output: ${text.slice(0, 300)}`);
  return JSON.parse(line) as T;
}

const luaString = (text: string) => `[==[${text}]==]`;

/** A wrk script sending one fixed POST and printing its summary as JSON. */
function wrkScript(request: Request): string {
  const headers = Object.entries(request.headers)
    .map(([name, value]) => `wrk.headers[ ${luaString(name)} ] = ${luaString(value)}`)
    .join('\n');
  return `wrk.method = "POST"
wrk.body = ${luaString(request.body)}
${headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout, latency:percentile(50), latency:percentile(99), latency.mean))
end
`;
}

interface WrkSummary {
  requests: number;
  duration_us: number;
  status: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
  p50_us: number;
  p99_us: number;
  mean_us: number;
}

export interface LoadOptions {
  generator: LoadGenerator;
  connections: number;
  seconds: number;
  /** CPUs for the load process (taskset list), or undefined to leave it unpinned. */
  cpus: string | undefined;
  workDir: string;
}

export async function runLoad(request: Request, options: LoadOptions): Promise<LoadResult> {
  if (options.generator === 'autocannon') {
    const output = await runProbe(
      {
        mode: 'autocannon',
        targets: [{ name: 'target', port: request.port, headers: request.headers }],
        path: request.path,
        body: request.body,
        connections: options.connections,
        durationMs: options.seconds * 1000,
      },
      options.cpus,
    );
    const result = output.results.target!;
    return {
      rps: result.rps ?? 0,
      p50: result.p50,
      p99: result.p99,
      mean: result.mean,
      requests: result.requests,
      non2xx: result.non2xx,
      errors: result.errors,
      seconds: result.durationSeconds ?? options.seconds,
    };
  }
  const script = join(options.workDir, `wrk-${request.port}-${request.body.includes('"stream":true') ? 'stream' : 'json'}.lua`);
  writeFileSync(script, wrkScript(request));
  const url = `http://127.0.0.1:${request.port}${request.path}`;
  const args = ['-t1', `-c${options.connections}`, `-d${Math.max(1, Math.round(options.seconds))}s`, '--timeout', '10s', '-s', script, url];
  const summary = lastJsonLine<WrkSummary>(await run(...pinned(options.cpus, 'wrk', args)));
  const seconds = summary.duration_us / 1e6;
  return {
    rps: summary.requests / seconds,
    p50: summary.p50_us / 1000,
    p99: summary.p99_us / 1000,
    mean: summary.mean_us / 1000,
    requests: summary.requests,
    // wrk counts responses with a status of 400 or more; our targets never redirect.
    non2xx: summary.status,
    errors: summary.connect + summary.read + summary.write + summary.timeout,
    seconds,
  };
}

export async function runProbe(job: ProbeJob, cpus: string | undefined): Promise<ProbeOutput> {
  return lastJsonLine<ProbeOutput>(await run(...pinned(cpus, process.execPath, [probeScript, JSON.stringify(job)])));
}
