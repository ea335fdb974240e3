import { Agent, request as httpRequest } from 'node:http';

// The benchmark's small clients, run as their own process (pinned next to the
// upstream) so the orchestrator's event loop never sits in a measurement:
//   latency   one connection, requests back to back: every response time
//   ttfc      one connection, streams back to back: time to the first `data:` bytes
//   autocannon  the 50-connection load when wrk is not used
// Input: one JSON argument (ProbeJob). Output: one JSON line (ProbeResult).

export interface ProbeJob {
  mode: 'latency' | 'ttfc' | 'autocannon';
  port: number;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** latency: how long to measure; autocannon: the run's length. */
  durationMs?: number;
  /** ttfc: streams measured. */
  count?: number;
  /** Not measured: lets JIT and connection setup settle first. */
  warmupMs?: number;
  connections?: number;
}

export interface ProbeResult {
  requests: number;
  non2xx: number;
  errors: number;
  /** Milliseconds. latency: whole response; ttfc: first data bytes. */
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  /** ttfc only: the whole stream, milliseconds. */
  totalP50?: number;
  /** ttfc only: streams that did not end with [DONE]. */
  incomplete?: number;
  /** autocannon only. */
  rps?: number;
  durationSeconds?: number;
}

const dataMarker = Buffer.from('data:');
const doneMarker = 'data: [DONE]';

interface Exchange {
  status: number;
  firstDataMs: number;
  totalMs: number;
  complete: boolean;
}

function exchange(job: ProbeJob, agent: Agent, body: Buffer, stream: boolean): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let firstDataMs = -1;
    let tail = '';
    const outgoing = httpRequest({ host: '127.0.0.1', port: job.port, method: 'POST', path: job.path, headers: { ...job.headers, 'content-length': String(body.length) }, agent }, (response) => {
      response.on('data', (chunk: Buffer) => {
        if (firstDataMs < 0 && chunk.indexOf(dataMarker) !== -1) firstDataMs = performance.now() - started;
        if (stream) tail = (tail + chunk.toString('latin1')).slice(-64);
      });
      response.on('end', () => {
        const totalMs = performance.now() - started;
        resolve({ status: response.statusCode ?? 0, firstDataMs: firstDataMs < 0 ? totalMs : firstDataMs, totalMs, complete: !stream || tail.includes(doneMarker) });
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

async function sequential(job: ProbeJob): Promise<ProbeResult> {
  const stream = job.mode === 'ttfc';
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const body = Buffer.from(job.body);
  let non2xx = 0;
  let errors = 0;
  let incomplete = 0;
  const firsts: number[] = [];
  const totals: number[] = [];
  const warmupEnds = performance.now() + (job.warmupMs ?? 0);
  while (performance.now() < warmupEnds) await exchange(job, agent, body, stream).catch(() => undefined);
  const measureEnds = performance.now() + (job.durationMs ?? 0);
  const more = () => (stream ? firsts.length + errors < (job.count ?? 200) : performance.now() < measureEnds);
  while (more()) {
    try {
      const result = await exchange(job, agent, body, stream);
      if (result.status < 200 || result.status > 299) non2xx += 1;
      if (!result.complete) incomplete += 1;
      firsts.push(stream ? result.firstDataMs : result.totalMs);
      totals.push(result.totalMs);
    } catch {
      errors += 1;
    }
  }
  agent.destroy();
  const result: ProbeResult = { requests: firsts.length, non2xx, errors, ...summarise(firsts) };
  if (stream) {
    result.totalP50 = summarise(totals).p50;
    result.incomplete = incomplete;
  }
  return result;
}

async function withAutocannon(job: ProbeJob): Promise<ProbeResult> {
  const { default: autocannon } = await import('autocannon');
  const result = await autocannon({
    url: `http://127.0.0.1:${job.port}${job.path}`,
    method: 'POST',
    headers: job.headers,
    body: job.body,
    connections: job.connections ?? 50,
    duration: (job.durationMs ?? 5000) / 1000,
    timeout: 10,
  });
  const seconds = result.duration;
  return {
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    mean: result.latency.average,
    rps: result.requests.total / seconds,
    durationSeconds: seconds,
  };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as ProbeJob;
  const result = job.mode === 'autocannon' ? await withAutocannon(job) : await sequential(job);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (import.meta.main) await main();
