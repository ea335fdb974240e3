import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

// `switchyard serve` as its own process, as an operator runs it: its JSON log
// lines are read as they come, so a test can wait for one by its message.

export const cli = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

/** The environment a fresh machine has: no provider keys, no config named. */
export const noProviderKeys = Object.fromEntries(
  [
    'DEEPSEEK_API_KEY',
    'OPENAI_API_KEY',
    'SILICONFLOW_API_KEY',
    'TOGETHER_API_KEY',
    'GROQ_API_KEY',
    'MISTRAL_API_KEY',
    'ANTHROPIC_API_KEY',
    'SWITCHYARD_CONFIG',
  ].map((name) => [name, '']),
);

export interface ServeProcess {
  child: ChildProcess;
  origin: string;
  lines: Record<string, unknown>[];
  /** What it wrote to standard error so far (when started with `args`; with a file it goes to the test's). */
  stderr: () => string;
  /** The next log line with this message (one logged before the call is not seen). */
  next: (message: string, matches?: (line: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
}

/** Starts `serve` (with `--config file`, or `args` as given), resolving with the address once the gateway logs that it listens. */
export function serve(file: string | { args: string[]; cwd: string }): Promise<ServeProcess> {
  const child =
    typeof file === 'string'
      ? spawn(process.execPath, [cli, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn(process.execPath, [cli, 'serve', ...file.args], { cwd: file.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...noProviderKeys } });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const waiters: { message: string; matches: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as Record<string, unknown>;
    lines.push(line);
    for (const waiter of waiters.filter((candidate) => candidate.message === line.msg && candidate.matches(line))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  });
  const next = (message: string, matches: (line: Record<string, unknown>) => boolean = () => true) =>
    new Promise<Record<string, unknown>>((resolve) => waiters.push({ message, matches, resolve }));
  const exited = new Promise<never>((_resolve, reject) =>
    child.once('exit', (code) => reject(new Error(`switchyard serve exited with ${code} before listening`))),
  );
  return Promise.race([next('switchyard listening'), exited]).then((line) => ({ child, origin: line.address as string, lines, stderr: () => stderr, next }));
}
