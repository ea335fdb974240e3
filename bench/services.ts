import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { setPriority } from 'node:os';

// Child processes the benchmark starts, and the small waits around them.
// Every child is remembered so that an interrupted run leaves nothing behind;
// each is stopped by its own pid.

const running = new Set<ChildProcess>();

/** Niceness for every process the benchmark starts (--nice); 0 leaves the scheduler alone. */
export const scheduling = { nice: 0 };

/** Applies --nice to a child just started (its own children, such as nginx's worker, inherit it). */
export function applyNice(child: ChildProcess): void {
  if (scheduling.nice !== 0 && child.pid !== undefined) setPriority(child.pid, scheduling.nice);
}

export interface SpawnOptions {
  cwd?: string;
  /** taskset CPU list, or undefined to leave the process unpinned. */
  cpus?: string | undefined;
  /** A file for stdout (e.g. the gateway's request log); 'pipe' to read it; 'ignore' for /dev/null. */
  stdout?: string | 'pipe' | 'ignore';
  stderr?: string | 'ignore';
  env?: NodeJS.ProcessEnv;
}

export function startProcess(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  const [file, argv] = options.cpus === undefined ? [command, args] : ['taskset', ['-c', options.cpus, command, ...args]];
  const open = (target: string | undefined) => (target === undefined || target === 'ignore' ? 'ignore' : target === 'pipe' ? 'pipe' : openSync(target, 'a'));
  const stdout = open(options.stdout);
  const stderr = open(options.stderr);
  const child = spawn(file, argv, { cwd: options.cwd, stdio: ['ignore', stdout, stderr], env: options.env ?? process.env });
  for (const fd of [stdout, stderr]) if (typeof fd === 'number') closeSync(fd);
  applyNice(child);
  running.add(child);
  child.on('exit', () => running.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Asks every child still running to stop (SIGTERM: nginx's master then stops its workers); for exit paths. */
export function killAll(): void {
  for (const child of running) child.kill('SIGTERM');
}

/** Resolves with the first JSON line a child prints on stdout ({"port":N}). */
export function firstJsonLine<T>(child: ChildProcess, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('the process printed nothing in time')), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split('\n').find((candidate) => candidate.startsWith('{') && candidate.endsWith('}'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as T);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the process exited (${code}) before it was ready`));
    });
  });
}

/** A port free right now on 127.0.0.1, for programs that cannot report the one they bound. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One request to 127.0.0.1. */
export function fetchLocal(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, agent: false, timeout: 5000 },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        response.on('error', reject);
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error('timed out')));
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

/** Polls until `ready` resolves true, or fails after `timeoutMs`. */
export async function waitUntil(what: string, ready: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await ready()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} was not ready within ${timeoutMs} ms${lastError ? `: ${(lastError as Error).message}` : ''}`);
}
