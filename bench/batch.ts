import { randomBytes } from 'node:crypto';
import { mkdtempSync, openAsBlob, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { uploadAndCreate, writeUploadFile, type StepFigures } from './batch-upload.ts';
import { availableCores, cpuTicks, ticksPerSecond } from './proc-stats.ts';
import { fetchLocal, killAll } from './services.ts';
import { baseHeaders, requestBody, requestPath, startNodeArgs, startTarget, startUpstream, type RunningTarget } from './targets.ts';

// What the Batches API costs and how it scales. By default: N requests sent
// online by a client keeping C in flight, then the same N as one batch with
// `batches.concurrency: C`, through one gateway on the SQLite store, pinned
// to its own core, against the instant upstream stand-in: requests per second
// of each, their ratio, and the gateway's CPU per request in each. With
// --store postgres and --replicas R, R gateways share one PostgreSQL store
// (a schema of its own, dropped at the end), unpinned: the batch goes to the
// first, every replica runs its lines, and the figures are lines per second
// and the replicas' CPU per line. --upload-mb measures memory and stalls
// instead (see batch-upload.ts). Not part of CI.
//
//   npm run bench:batch -- [--requests 5000] [--concurrency 16] [--rounds 3]
//   npm run bench:batch -- --store postgres --replicas 2 [--upstream-delay-ms 20]
//   npm run bench:batch -- --upload-mb 180 [--store postgres]

const { values: flags } = parseArgs({
  options: {
    requests: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
    store: { type: 'string', default: 'sqlite' },
    replicas: { type: 'string', default: '1' },
    'postgres-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    // How long the upstream waits before answering: with a delay, a replica's batches.concurrency is its limit, not its CPU.
    'upstream-delay-ms': { type: 'string', default: '0' },
    // Leaves the SQLite comparison unpinned too (as replicas always are), to set it beside them.
    unpinned: { type: 'boolean', default: false },
    // Writes a V8 CPU profile of the gateway into this folder.
    'cpu-prof-dir': { type: 'string' },
    // Instead: upload a JSONL file of this many MB (50,000 lines) and create a batch from it, measuring memory and stalls.
    'upload-mb': { type: 'string' },
  },
});
const requests = Number(flags.requests);
const concurrency = Number(flags.concurrency);
const rounds = Number(flags.rounds);
const replicas = Number(flags.replicas);
const postgres = flags.store === 'postgres';
if (!postgres && flags.store !== 'sqlite') throw new Error('--store is sqlite or postgres');
if (!postgres && replicas !== 1) throw new Error('a SQLite store belongs to one gateway: --replicas needs --store postgres');
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const workDir = mkdtempSync(join(tmpdir(), 'switchyard-batch-bench-'));
// The classic comparison pins the gateway and the upstream to a core each; replicas share the machine's cores unpinned.
const pin = !postgres && !flags.unpinned && availableCores() >= 2;
process.on('exit', killAll);

const schema = `switchyard_bench_${randomBytes(4).toString('hex')}`;
const storeUrl = new URL(flags['postgres-url']);
storeUrl.searchParams.set('schema', schema);
const store = postgres ? storeUrl.toString() : join(workDir, 'batches.db');

const upstream = await startUpstream({ repoRoot, workDir, cpus: pin ? '1' : undefined });
const gateways: RunningTarget[] = [];

async function finish(): Promise<void> {
  for (const gateway of gateways) await gateway.stop();
  await upstream.stop();
  rmSync(workDir, { recursive: true, force: true });
  if (postgres) {
    const client = new pg.Client({ connectionString: flags['postgres-url'] });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
}

await upstream.setDelay(Number(flags['upstream-delay-ms']));
for (let index = 0; index < replicas; index += 1) {
  const started = await startTarget('switchyard', {
    upstreamPort: upstream.port,
    upstreamPid: upstream.pid,
    workDir,
    cpus: pin ? '0' : undefined,
    repoRoot,
    nodeArgs: { switchyard: [...startNodeArgs, ...(flags['cpu-prof-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${flags['cpu-prof-dir']}`] : [])] },
    switchyardConfig: `batches: { store: "${store}", concurrency: ${concurrency}, max_lines: ${Math.max(requests, 50_000)} }\n`,
  });
  if (!started.ok) {
    await finish();
    throw new Error(`Switchyard did not start: ${started.reason}`);
  }
  gateways.push(started.target);
}
const base = `http://127.0.0.1:${gateways[0]!.port}`;
const pids = gateways.map((gateway) => gateway.pids()[0]!);

async function online(): Promise<number> {
  const begin = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < requests) {
      next += 1;
      const answer = await fetch(base + requestPath, { method: 'POST', headers: baseHeaders, body: requestBody(false) });
      if (answer.status !== 200) throw new Error(`online request answered ${answer.status}`);
      await answer.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return performance.now() - begin;
}

async function batch(): Promise<number> {
  const body = JSON.parse(requestBody(false)) as unknown;
  const lines = Array.from({ length: requests }, (_, index) => JSON.stringify({ custom_id: `r${index}`, method: 'POST', url: requestPath, body })).join('\n');
  const form = new FormData();
  form.set('purpose', 'batch');
  form.set('file', new Blob([lines]), 'bench.jsonl');
  const begin = performance.now();
  const file = (await (await fetch(`${base}/v1/files`, { method: 'POST', headers: { authorization: baseHeaders.authorization }, body: form })).json()) as {
    id: string;
  };
  const created = (await (
    await fetch(`${base}/v1/batches`, {
      method: 'POST',
      headers: baseHeaders,
      body: JSON.stringify({ input_file_id: file.id, endpoint: requestPath, completion_window: '24h' }),
    })
  ).json()) as { id: string };
  for (;;) {
    const state = (await (await fetch(`${base}/v1/batches/${created.id}`, { headers: baseHeaders })).json()) as {
      status: string;
      request_counts: { completed: number; failed: number };
    };
    if (state.status === 'completed') {
      if (state.request_counts.completed !== requests) throw new Error(`batch completed ${state.request_counts.completed} of ${requests}`);
      break;
    }
    if (state.status !== 'in_progress' && state.status !== 'finalizing') throw new Error(`batch ended ${state.status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await (await fetch(`${base}/v1/files/${file.id}`, { headers: baseHeaders })).arrayBuffer();
  return performance.now() - begin;
}

/** Runs `phase` and returns its wall time and the gateways' CPU µs per request. */
async function measured(phase: () => Promise<number>): Promise<{ ms: number; cpuUs: number }> {
  const before = pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
  const ms = await phase();
  const after = pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
  return { ms, cpuUs: (((after - before) / ticksPerSecond) * 1e6) / requests };
}

/** Lines each gateway completed so far, from its /metrics. */
async function linesByGateway(): Promise<number[]> {
  return Promise.all(
    gateways.map(async (gateway) => {
      const text = (await fetchLocal(gateway.port, '/metrics')).body;
      return Number(/switchyard_batch_lines_total\{outcome="completed"\} (\d+)/.exec(text)?.[1] ?? 0);
    }),
  );
}

async function uploadFigures(): Promise<void> {
  const path = join(workDir, 'big.jsonl');
  const bytes = writeUploadFile(path, Number(flags['upload-mb']), 50_000);
  const { upload, create, status } = await uploadAndCreate(gateways[0]!.port, pids[0]!, await openAsBlob(path));
  const show = (figures: StepFigures) =>
    `${Math.round(figures.ms)} ms, RSS ${figures.startRssMb} → peak ${figures.peakRssMb} MB, longest /healthz wait ${figures.longestProbeMs} ms (${figures.slowProbes} over 100 ms)`;
  console.log(`${flags.store} store: upload of ${(bytes / 1024 / 1024).toFixed(0)} MB (50,000 lines): ${show(upload)}`);
  console.log(`${flags.store} store: creating the batch (${status}): ${show(create)}`);
}

async function roundFigures(): Promise<void> {
  const label = `${flags.store}, ${replicas} ${replicas === 1 ? 'gateway' : 'gateways'}, upstream delay ${flags['upstream-delay-ms']} ms`;
  for (let round = 1; round <= rounds; round += 1) {
    if (replicas === 1 && !postgres) {
      const plain = await measured(online);
      const batched = await measured(batch);
      console.log(
        `round ${round} (${label}): online ${Math.round((requests / plain.ms) * 1000)} req/s at ${Math.round(plain.cpuUs)} µs CPU each; ` +
          `batch ${Math.round((requests / batched.ms) * 1000)} lines/s (upload to completed) at ${Math.round(batched.cpuUs)} µs CPU each; ` +
          `batch ÷ online: time ${(plain.ms / batched.ms).toFixed(2)}, CPU ${(batched.cpuUs / plain.cpuUs).toFixed(2)}`,
      );
      continue;
    }
    const before = await linesByGateway();
    const batched = await measured(batch);
    const after = await linesByGateway();
    const split = after.map((count, index) => count - before[index]!).join(' / ');
    console.log(
      `round ${round} (${label}): batch ${Math.round((requests / batched.ms) * 1000)} lines/s (upload to completed) at ${Math.round(batched.cpuUs)} µs gateway CPU per line; lines by gateway ${split}`,
    );
  }
}

// The schema is dropped however the run ends (an error, Ctrl-C).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void finish().finally(() => process.exit(130)));
try {
  await (flags['upload-mb'] !== undefined ? uploadFigures() : roundFigures());
} finally {
  await finish();
}
