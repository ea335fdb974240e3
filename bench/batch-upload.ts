import { writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { currentRss, peakRss } from './proc-stats.ts';
import { baseHeaders, requestPath } from './targets.ts';

// What a big batch file costs the gateway that takes it: a JSONL file of
// `megabytes` (50,000 lines by default) is uploaded through /v1/files, then a
// batch is created from it. For each step, the gateway's peak RSS (VmHWM,
// reset before the step through /proc/PID/clear_refs) and the longest a
// /healthz probe sent every 10 ms from another thread waited: how long the
// gateway stopped answering everyone else.

export interface StepFigures {
  ms: number;
  /** RSS when the step started (VmHWM is reset to it). */
  startRssMb: number;
  peakRssMb: number;
  longestProbeMs: number;
  /** Probes that waited over 100 ms. */
  slowProbes: number;
}

/** One JSONL line of about `bytes` bytes: a chat request padded with filler text. */
function line(index: number, bytes: number): string {
  const shell = JSON.stringify({
    custom_id: `r${index}`,
    method: 'POST',
    url: requestPath,
    body: { model: 'chat', max_tokens: 16, messages: [{ role: 'user', content: '' }] },
  });
  return shell.replace('"content":""', `"content":"${'lorem ipsum '.repeat(Math.max(0, Math.floor((bytes - shell.length) / 12)))}"`);
}

/** Writes the file to `path` and returns its size in bytes. */
export function writeUploadFile(path: string, megabytes: number, lines: number): number {
  const perLine = Math.floor((megabytes * 1024 * 1024) / lines);
  const text = Array.from({ length: lines }, (_, index) => line(index, perLine)).join('\n') + '\n';
  writeFileSync(path, text);
  return Buffer.byteLength(text);
}

const probeSource = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let stop = false; const waits = [];
parentPort.on('message', () => { stop = true; });
(async () => {
  while (!stop) {
    const begin = performance.now();
    await new Promise((resolve) => http.get({ host: '127.0.0.1', port: workerData.port, path: '/healthz', agent }, (answer) => { answer.resume(); answer.on('end', resolve); }).on('error', resolve));
    waits.push(performance.now() - begin);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  parentPort.postMessage(waits);
})();
`;

/** Runs `step` while a probe thread measures the gateway's answer times; the gateway's peak RSS over the step. */
export async function measureStep(port: number, pid: number, step: () => Promise<void>): Promise<StepFigures> {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  const startRssMb = Math.round(currentRss(pid) / 1024 / 1024);
  const probe = new Worker(probeSource, { eval: true, workerData: { port } });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const begin = performance.now();
  await step();
  const ms = performance.now() - begin;
  const waits = await new Promise<number[]>((resolve) => {
    probe.once('message', resolve);
    probe.postMessage('stop');
  });
  await probe.terminate();
  return {
    ms,
    startRssMb,
    peakRssMb: Math.round(peakRss(pid) / 1024 / 1024),
    longestProbeMs: Math.round(Math.max(...waits)),
    slowProbes: waits.filter((wait) => wait > 100).length,
  };
}

/** POSTs `body` (a form's file part is streamed from its Blob) and reads the JSON answer. */
export async function post(
  port: number,
  path: string,
  headers: Record<string, string>,
  body: FormData | string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const answer = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers, body });
  const text = await answer.text();
  return { status: answer.status, json: JSON.parse(text) as Record<string, unknown> };
}

/** Uploads `file` (a Blob) and creates a batch from it, each step measured. */
export async function uploadAndCreate(port: number, pid: number, file: Blob): Promise<{ upload: StepFigures; create: StepFigures; status: string }> {
  let fileId = '';
  const upload = await measureStep(port, pid, async () => {
    const form = new FormData();
    form.set('purpose', 'batch');
    form.set('file', file, 'big.jsonl');
    const answer = await post(port, '/v1/files', { authorization: baseHeaders.authorization }, form);
    if (answer.status !== 200) throw new Error(`the upload answered ${answer.status}: ${JSON.stringify(answer.json)}`);
    fileId = answer.json.id as string;
  });
  let status = '';
  const create = await measureStep(port, pid, async () => {
    const answer = await post(port, '/v1/batches', baseHeaders, JSON.stringify({ input_file_id: fileId, endpoint: requestPath, completion_window: '24h' }));
    if (answer.status !== 200) throw new Error(`creating the batch answered ${answer.status}: ${JSON.stringify(answer.json)}`);
    status = answer.json.status as string;
  });
  return { upload, create, status };
}
