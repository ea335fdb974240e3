import { mkdtempSync, openAsBlob, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { uploadAndCreate, writeUploadFile, type StepFigures } from './batch-upload.ts';
import { availableCores, cpuTicks, ticksPerSecond } from './proc-stats.ts';
import { killAll } from './services.ts';
import { baseHeaders, requestBody, requestPath, startNodeArgs, startTarget, startUpstream } from './targets.ts';

// What the Batches API costs over sending the same requests yourself: N
// requests sent online by a client keeping C in flight, then the same N as
// one batch with `batches.concurrency: C`, through the same gateway, against
// the instant upstream stand-in. Reports requests per second of each, their
// ratio, and the gateway's CPU per request in each (what a batch line costs
// the process that also serves realtime traffic). Not part of CI.
//
//   npm run bench:batch -- [--requests 5000] [--concurrency 16] [--rounds 3]
//   npm run bench:batch -- --upload-mb 180

const { values: flags } = parseArgs({
  options: {
    requests: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
    // Writes a V8 CPU profile of the gateway into this folder.
    'cpu-prof-dir': { type: 'string' },
    // Instead: upload a JSONL file of this many MB (50,000 lines) and create a batch from it, measuring memory and stalls.
    'upload-mb': { type: 'string' },
  },
});
const requests = Number(flags.requests);
const concurrency = Number(flags.concurrency);
const rounds = Number(flags.rounds);
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const workDir = mkdtempSync(join(tmpdir(), 'switchyard-batch-bench-'));
const pin = availableCores() >= 2;
process.on('exit', killAll);

const upstream = await startUpstream({ repoRoot, workDir, cpus: pin ? '1' : undefined });
const started = await startTarget('switchyard', {
  upstreamPort: upstream.port,
  upstreamPid: upstream.pid,
  workDir,
  cpus: pin ? '0' : undefined,
  repoRoot,
  nodeArgs: { switchyard: [...startNodeArgs, ...(flags['cpu-prof-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${flags['cpu-prof-dir']}`] : [])] },
  switchyardConfig: `batches: { store: "${join(workDir, 'batches.db')}", concurrency: ${concurrency}, max_lines: ${Math.max(requests, 50_000)} }\n`,
});
if (!started.ok) throw new Error(`Switchyard did not start: ${started.reason}`);
const base = `http://127.0.0.1:${started.target.port}`;

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
  const file = (await (await fetch(`${base}/v1/files`, { method: 'POST', headers: { authorization: baseHeaders.authorization }, body: form })).json()) as { id: string };
  const created = (await (
    await fetch(`${base}/v1/batches`, { method: 'POST', headers: baseHeaders, body: JSON.stringify({ input_file_id: file.id, endpoint: requestPath, completion_window: '24h' }) })
  ).json()) as { id: string };
  for (;;) {
    const state = (await (await fetch(`${base}/v1/batches/${created.id}`, { headers: baseHeaders })).json()) as { status: string; request_counts: { completed: number; failed: number } };
    if (state.status === 'completed') {
      if (state.request_counts.completed !== requests) throw new Error(`batch completed ${state.request_counts.completed} of ${requests}`);
      break;
    }
    if (state.status !== 'in_progress') throw new Error(`batch ended ${state.status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await (await fetch(`${base}/v1/files/${file.id}`, { headers: baseHeaders })).arrayBuffer();
  return performance.now() - begin;
}

const pid = started.target.pids()[0]!;
if (flags['upload-mb'] !== undefined) {
  const path = join(workDir, 'big.jsonl');
  const bytes = writeUploadFile(path, Number(flags['upload-mb']), 50_000);
  const { upload, create, status } = await uploadAndCreate(started.target.port, pid, await openAsBlob(path));
  const show = (figures: StepFigures) => `${Math.round(figures.ms)} ms, RSS ${figures.startRssMb} → peak ${figures.peakRssMb} MB, longest /healthz wait ${figures.longestProbeMs} ms (${figures.slowProbes} over 100 ms)`;
  console.log(`upload of ${(bytes / 1024 / 1024).toFixed(0)} MB (50,000 lines): ${show(upload)}`);
  console.log(`creating the batch (${status}): ${show(create)}`);
  await started.target.stop();
  await upstream.stop();
  rmSync(workDir, { recursive: true, force: true });
  process.exit(0);
}
/** Runs `phase` and returns its wall time and the gateway's CPU µs per request. */
async function measured(phase: () => Promise<number>): Promise<{ ms: number; cpuUs: number }> {
  const before = cpuTicks(pid);
  const ms = await phase();
  return { ms, cpuUs: (((cpuTicks(pid) - before) / ticksPerSecond) * 1e6) / requests };
}

for (let round = 1; round <= rounds; round += 1) {
  const plain = await measured(online);
  const batched = await measured(batch);
  console.log(
    `round ${round}: online ${Math.round((requests / plain.ms) * 1000)} req/s at ${Math.round(plain.cpuUs)} µs CPU each; ` +
      `batch ${Math.round((requests / batched.ms) * 1000)} lines/s (upload to completed) at ${Math.round(batched.cpuUs)} µs CPU each; ` +
      `batch ÷ online: time ${(plain.ms / batched.ms).toFixed(2)}, CPU ${(batched.cpuUs / plain.cpuUs).toFixed(2)}`,
  );
}
await started.target.stop();
await upstream.stop();
rmSync(workDir, { recursive: true, force: true });
