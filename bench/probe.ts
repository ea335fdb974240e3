import { Agent, request as httpRequest } from 'node:http';
import { cpuNanoseconds } from './proc-stats.ts';

// The benchmark's small clients, run as their own process (pinned next to the
// upstream) so the orchestrator's event loop never sits in a measurement:
//   latency     one connection per target, requests back to back: every response time
//   ttfc        one connection per target, streams back to back: time to the first `data:` bytes
//   autocannon  the 50-connection load when wrk is not used (one target)
// latency and ttfc take turns between the targets in short slices, so a burst
// of activity elsewhere on the machine falls on every target alike.
// Input: one JSON argument (ProbeJob). Output: one JSON line (ProbeOutput).

export interface ProbeTarget {
  name: string;
  port: number;
  headers: Record<string, string>;
  /** The target's processes: their CPU time is read around each slice. */
  pids?: number[];
}

export interface ProbeJob {
  mode: 'latency' | 'ttfc' | 'autocannon';
  targets: ProbeTarget[];
  path: string;
  body: string;
  slices?: number;
  /** latency: time per target per slice. */
  sliceMs?: number;
  /** ttfc: streams per target per slice. */
  streamsPerSlice?: number;
  /** Not measured, per target: lets JIT and connection setup settle first. */
  warmupMs?: number;
  /** autocannon only. */
  connections?: number;
  durationMs?: number;
}

export interface ProbeResult {
  requests: number;
  non2xx: number;
  errors: number;
  /** Milliseconds. latency: whole response; ttfc: first data bytes; autocannon: whole response. */
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  /** ttfc only: the whole stream, milliseconds. */
  totalP50?: number;
  /** ttfc only: streams that did not end with [DONE]. */
  incomplete?: number;
  /** latency and ttfc, when the target's pids were given: its CPU time per request, microseconds. */
  cpuPerRequestUs?: number;
  /** autocannon only. */
  rps?: number;
  durationSeconds?: number;
}

export interface ProbeOutput {
  results: Record<string, ProbeResult>;
}

const dataMarker = Buffer.from('data:');
const doneMarker = 'data: [DONE]';

interface Exchange {
  status: number;
  firstDataMs: number;
  totalMs: number;
  complete: boolean;
}

function exchange(target: ProbeTarget, path: string, agent: Agent, body: Buffer, stream: boolean): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let firstDataMs = -1;
    let tail = '';
    const headers = { ...target.headers, 'content-length': String(body.length) };
    const outgoing = httpRequest({ host: '127.0.0.1', port: target.port, method: 'POST', path, headers, agent }, (response) => {
      response.on('data', (chunk: Buffer) => {
        if (firstDataMs < 0 && chunk.indexOf(dataMarker) !== -1) firstDataMs = performance.now() - started;
        if (stream) tail = (tail + chunk.toString('latin1')).slice(-64);
      });
      response.on('end', () => {
        const totalMs = performance.now() - started;
        resolve({
          status: response.statusCode ?? 0,
          firstDataMs: firstDataMs < 0 ? totalMs : firstDataMs,
          totalMs,
          complete: !stream || tail.includes(doneMarker),
        });
      });
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[index]!;
}

function summarise(values: number[]): Pick<ProbeResult, 'p50' | 'p90' | 'p99' | 'mean'> {
  const sorted = values.toSorted((a, b) => a - b);
  const mean = sorted.reduce((total, value) => total + value, 0) / Math.max(1, sorted.length);
  return { p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p99: percentile(sorted, 0.99), mean };
}

interface Tally {
  agent: Agent;
  firsts: number[];
  totals: number[];
  non2xx: number;
  errors: number;
  incomplete: number;
  cpuNs: number;
}

async function sequential(job: ProbeJob): Promise<ProbeOutput> {
  const stream = job.mode === 'ttfc';
  const body = Buffer.from(job.body);
  const tallies = new Map<ProbeTarget, Tally>(
    job.targets.map((target) => [
      target,
      { agent: new Agent({ keepAlive: true, maxSockets: 1 }), firsts: [], totals: [], non2xx: 0, errors: 0, incomplete: 0, cpuNs: 0 },
    ]),
  );
  for (const [target, tally] of tallies) {
    const warmupEnds = performance.now() + (job.warmupMs ?? 0);
    while (performance.now() < warmupEnds) await exchange(target, job.path, tally.agent, body, stream).catch(() => undefined);
  }
  const slices = job.slices ?? 1;
  for (let slice = 0; slice < slices; slice += 1) {
    // A different order each slice: no target always follows the same one.
    const order = job.targets.map((_, index) => job.targets[(index + slice) % job.targets.length]!);
    for (const target of order) {
      const tally = tallies.get(target)!;
      const sliceEnds = performance.now() + (job.sliceMs ?? 0);
      let sent = 0;
      const cpuBefore = cpuNanoseconds(target.pids ?? []);
      const more = () => (stream ? sent < (job.streamsPerSlice ?? 40) : performance.now() < sliceEnds);
      while (more()) {
        sent += 1;
        try {
          const result = await exchange(target, job.path, tally.agent, body, stream);
          if (result.status < 200 || result.status > 299) tally.non2xx += 1;
          if (!result.complete) tally.incomplete += 1;
          tally.firsts.push(stream ? result.firstDataMs : result.totalMs);
          tally.totals.push(result.totalMs);
        } catch {
          tally.errors += 1;
        }
      }
      tally.cpuNs += cpuNanoseconds(target.pids ?? []) - cpuBefore;
    }
  }
  const results: Record<string, ProbeResult> = {};
  for (const [target, tally] of tallies) {
    tally.agent.destroy();
    const result: ProbeResult = { requests: tally.firsts.length, non2xx: tally.non2xx, errors: tally.errors, ...summarise(tally.firsts) };
    if (target.pids && tally.firsts.length > 0) result.cpuPerRequestUs = tally.cpuNs / 1000 / tally.firsts.length;
    if (stream) {
      result.totalP50 = summarise(tally.totals).p50;
      result.incomplete = tally.incomplete;
    }
    results[target.name] = result;
  }
  return { results };
}

async function withAutocannon(job: ProbeJob): Promise<ProbeOutput> {
  const { default: autocannon } = await import('autocannon');
  const target = job.targets[0]!;
  const result = await autocannon({
    url: `http://127.0.0.1:${target.port}${job.path}`,
    method: 'POST',
    headers: target.headers,
    body: job.body,
    connections: job.connections ?? 50,
    duration: (job.durationMs ?? 5000) / 1000,
    timeout: 10,
  });
  const seconds = result.duration;
  return {
    results: {
      [target.name]: {
        requests: result.requests.total,
        non2xx: result.non2xx,
        errors: result.errors + result.timeouts,
        p50: result.latency.p50,
        p90: result.latency.p90,
        p99: result.latency.p99,
        mean: result.latency.average,
        rps: result.requests.total / seconds,
        durationSeconds: seconds,
      },
    },
  };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as ProbeJob;
  const output = job.mode === 'autocannon' ? await withAutocannon(job) : await sequential(job);
  process.stdout.write(`${JSON.stringify(output)}\n`);
}

if (import.meta.main) await main();
