import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { childPids } from './proc-stats.ts';
import { fetchLocal, firstJsonLine, freePort, startProcess, stopProcess, waitUntil } from './services.ts';

// The things the same load is sent to. Each starts as its own process (pinned
// to the proxy CPU), is smoke-tested with one plain and one streamed request,
// and says which processes count as it for CPU and memory.

export const targetNames = ['direct', 'bare', 'switchyard', 'baseline', 'nginx', 'portkey'] as const;
export type TargetName = (typeof targetNames)[number];

export const targetLabels: Record<TargetName, string> = {
  direct: 'upstream directly',
  bare: 'bare node:http proxy',
  switchyard: 'Switchyard',
  baseline: 'Switchyard baseline',
  nginx: 'nginx',
  portkey: 'Portkey gateway',
};

export interface RunningTarget {
  name: TargetName;
  port: number;
  /** Headers this target needs on every request (Portkey's routing headers). */
  headers: Record<string, string>;
  version: string;
  /** The processes whose CPU and memory are the target's. */
  pids(): number[];
  stop(): Promise<void>;
}

export interface TargetEnvironment {
  upstreamPort: number;
  upstreamPid: number;
  /** A fresh folder for configs and logs of this run. */
  workDir: string;
  /** taskset CPU list for proxies, or undefined. */
  cpus: string | undefined;
  repoRoot: string;
  /** Extra node flags per Node.js target (--cpu-prof, --max-semi-space-size=16, ...). */
  nodeArgs?: Partial<Record<TargetName, string[]>>;
  /** Another checkout of Switchyard (a `git worktree` of an earlier commit), measured as `baseline`. */
  baselineDir?: string;
  /** YAML appended to Switchyard's generated config (bench/batch.ts turns batches on with it). */
  switchyardConfig?: string;
}

export type StartOutcome = { ok: true; target: RunningTarget } | { ok: false; reason: string };

export const requestPath = '/v1/chat/completions';
export const requestBody = (stream: boolean) =>
  JSON.stringify({
    model: 'chat',
    messages: [
      { role: 'system', content: 'You are a helpful assistant. Answer briefly.' },
      { role: 'user', content: 'Say hello to the benchmark, please.' },
    ],
    temperature: 0.2,
    max_tokens: 64,
    ...(stream ? { stream: true } : {}),
  });
export const baseHeaders = { 'content-type': 'application/json', authorization: 'Bearer bench-key' };

export interface Upstream {
  port: number;
  pid: number;
  /** Changes how long the upstream waits before answering (0: at once). */
  setDelay(delayMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** bench/upstream.ts in its own process, pinned with the clients. */
export async function startUpstream(options: { repoRoot: string; workDir: string; cpus: string | undefined }): Promise<Upstream> {
  const child = startProcess(process.execPath, [join(options.repoRoot, 'bench/upstream.ts')], {
    cpus: options.cpus,
    stdout: 'pipe',
    stderr: join(options.workDir, 'upstream.err'),
  });
  const { port } = await firstJsonLine<{ port: number }>(child);
  return {
    port,
    pid: child.pid!,
    async setDelay(delayMs) {
      const answer = await fetchLocal(port, `/bench/delay-ms/${delayMs}`, { method: 'PUT' });
      if (answer.status !== 204) throw new Error(`the upstream refused the delay change (${answer.status})`);
    },
    stop: () => stopProcess(child),
  };
}

const portkeyScript = (repoRoot: string) => join(repoRoot, 'bench/peers/node_modules/@portkey-ai/gateway/build/start-server.js');

export function nginxVersion(): string | undefined {
  const result = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  if (result.error) return undefined;
  return /nginx\/(\S+)/.exec(`${result.stderr}${result.stdout}`)?.[1] ?? 'unknown';
}

export function portkeyVersion(repoRoot: string): string | undefined {
  const manifest = join(repoRoot, 'bench/peers/node_modules/@portkey-ai/gateway/package.json');
  if (!existsSync(manifest) || !existsSync(portkeyScript(repoRoot))) return undefined;
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

/** Why a target cannot run on this machine, or undefined when it can. */
export function unavailable(name: TargetName, repoRoot: string): string | undefined {
  if (name === 'nginx' && nginxVersion() === undefined) return 'nginx is not installed (apt-get install -y nginx-light)';
  if (name === 'portkey' && portkeyVersion(repoRoot) === undefined) return 'Portkey is not installed (npm --prefix bench/peers ci)';
  return undefined;
}

async function smokeTest(port: number, headers: Record<string, string>): Promise<string | undefined> {
  const all = { ...baseHeaders, ...headers };
  const plain = await fetchLocal(port, requestPath, { method: 'POST', headers: all, body: requestBody(false) });
  if (plain.status !== 200 || !plain.body.includes('"chat.completion"')) return `plain request answered ${plain.status}: ${plain.body.slice(0, 200)}`;
  const stream = await fetchLocal(port, requestPath, { method: 'POST', headers: all, body: requestBody(true) });
  if (stream.status !== 200 || !stream.body.trimEnd().endsWith('data: [DONE]'))
    return `streamed request answered ${stream.status}: ${stream.body.slice(0, 200)}`;
  return undefined;
}

/** The V8 flags `npm start` gives the gateway (package.json's start script): every benchmark runs it the same way. */
export const startNodeArgs: readonly string[] = (() => {
  const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  const words = packageJson.scripts.start.split(/\s+/);
  return words.slice(1, words.indexOf('dist/cli.js'));
})();

/** The benchmark's gateway config: one route, one target, the log at info as in production; `extra` is YAML appended. */
export function switchyardConfig(port: number, upstreamPort: number, extra = ''): string {
  return `server: { host: 127.0.0.1, port: ${port}, log_level: info }
providers:
  upstream: { type: openai, base_url: "http://127.0.0.1:${upstreamPort}/v1", api_key: bench-key }
routes:
  chat:
    targets: [{ provider: upstream, model: bench-model }]
${extra}`;
}

/** A built gateway (`dist/cli.js serve`, as `npm start` runs it) on `config`, once its /readyz on `port` answers 200. */
export async function startServe(options: {
  label: string;
  checkout: string;
  config: string;
  port: number;
  nodeArgs: readonly string[];
  cpus?: string | undefined;
  stdout: string;
  stderr: string;
}): Promise<ChildProcess> {
  const child = startProcess(process.execPath, [...options.nodeArgs, 'dist/cli.js', 'serve', '--config', options.config], {
    cwd: options.checkout,
    cpus: options.cpus,
    stdout: options.stdout,
    stderr: options.stderr,
  });
  await waitUntil(options.label, async () => {
    if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}; see ${options.stderr}`);
    return (await fetchLocal(options.port, '/readyz')).status === 200;
  });
  return child;
}

/** Builds a checkout's dist/ as `npm start` runs it, with this checkout's TypeScript. */
export function buildGateway(repoRoot: string, checkout: string): void {
  const build = spawnSync(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', join(checkout, 'tsconfig.build.json')], { cwd: checkout, stdio: 'inherit' });
  if (build.status !== 0) throw new Error(`the build in ${checkout} failed`);
}

async function startRaw(name: TargetName, environment: TargetEnvironment): Promise<RunningTarget> {
  const { upstreamPort, workDir, cpus, repoRoot } = environment;
  const node = process.execPath;
  switch (name) {
    case 'direct':
      return { name, port: upstreamPort, headers: {}, version: `node ${process.version}`, pids: () => [environment.upstreamPid], stop: async () => {} };

    case 'bare': {
      const child = startProcess(
        node,
        [...(environment.nodeArgs?.[name] ?? []), join(repoRoot, 'bench/bare-proxy.ts'), '--upstream-port', String(upstreamPort)],
        { cpus, stdout: 'pipe', stderr: join(workDir, 'bare.err') },
      );
      const { port } = await firstJsonLine<{ port: number }>(child);
      return { name, port, headers: {}, version: `node ${process.version}`, pids: () => [child.pid!], stop: () => stopProcess(child) };
    }

    case 'switchyard':
    case 'baseline': {
      const checkout = name === 'baseline' ? environment.baselineDir : repoRoot;
      if (checkout === undefined) throw new Error('the baseline target needs --baseline-dir');
      const port = await freePort();
      const config = join(workDir, `${name}-${upstreamPort}.yaml`);
      writeFileSync(config, switchyardConfig(port, upstreamPort, environment.switchyardConfig));
      // The gateway logs one JSON line per request: into a file, as a deployment would ship it.
      // The built gateway, as `npm start` runs it: no type stripping (its wasm costs memory and start-up).
      buildGateway(repoRoot, checkout);
      const flags = (name === 'baseline' ? environment.nodeArgs?.baseline : undefined) ?? environment.nodeArgs?.switchyard ?? [];
      const child = await startServe({
        label: targetLabels[name],
        checkout,
        config,
        port,
        nodeArgs: flags,
        cpus,
        stdout: join(workDir, `${name}-${upstreamPort}.log`),
        stderr: join(workDir, `${name}.err`),
      });
      const version = (JSON.parse(readFileSync(join(checkout, 'package.json'), 'utf8')) as { version: string }).version;
      const revision = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: checkout, encoding: 'utf8' }).stdout.trim();
      return {
        name,
        port,
        headers: {},
        version: `${version} (${name === 'baseline' ? `${revision} at ${checkout}` : 'working tree'})`,
        pids: () => [child.pid!],
        stop: () => stopProcess(child),
      };
    }

    case 'nginx': {
      const port = await freePort();
      const prefix = join(workDir, `nginx-${upstreamPort}`);
      mkdirSync(prefix, { recursive: true });
      chmodSync(workDir, 0o755); // workers run as nobody and create their temp folders here
      chmodSync(prefix, 0o755);
      const config = join(prefix, 'nginx.conf');
      writeFileSync(config, nginxConfig(prefix, port, upstreamPort));
      const child = startProcess('nginx', ['-p', prefix, '-c', config, '-e', join(prefix, 'error.log'), '-g', 'daemon off;'], {
        cpus,
        stderr: join(prefix, 'stderr.log'),
      });
      await waitUntil('nginx', async () => {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}; see ${prefix}/error.log`);
        return (await fetchLocal(port, '/nginx-ready')).status === 204;
      });
      return {
        name,
        port,
        headers: {},
        version: nginxVersion() ?? 'unknown',
        pids: () => [child.pid!, ...childPids(child.pid!)],
        stop: () => stopProcess(child),
      };
    }

    case 'portkey': {
      const port = await freePort();
      const child = startProcess(node, [...(environment.nodeArgs?.[name] ?? []), portkeyScript(repoRoot), '--headless', `--port=${port}`], {
        cwd: join(repoRoot, 'bench/peers'),
        cpus,
        stdout: 'ignore',
        stderr: join(workDir, 'portkey.err'),
      });
      const headers = { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `http://127.0.0.1:${upstreamPort}/v1` };
      await waitUntil('Portkey', async () => {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}; see ${join(workDir, 'portkey.err')}`);
        return (await fetchLocal(port, '/')).status > 0;
      });
      return { name, port, headers, version: portkeyVersion(repoRoot) ?? 'unknown', pids: () => [child.pid!], stop: () => stopProcess(child) };
    }
  }
}

export async function startTarget(name: TargetName, environment: TargetEnvironment): Promise<StartOutcome> {
  const missing = unavailable(name, environment.repoRoot);
  if (missing) return { ok: false, reason: missing };
  let target: RunningTarget | undefined;
  try {
    target = await startRaw(name, environment);
    const problem = await smokeTest(target.port, target.headers);
    if (problem) throw new Error(`smoke test failed: ${problem}`);
    return { ok: true, target };
  } catch (error) {
    await target?.stop();
    return { ok: false, reason: (error as Error).message };
  }
}

/** The start of an nginx.conf run as a child from `prefix`: one worker, every file it writes under the prefix, a buffered access log. Ends inside `http {`. */
export function nginxPrelude(prefix: string): string {
  return `worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${prefix}/access.log combined buffer=64k flush=1s;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
`;
}

/** A plain reverse proxy: one worker, keep-alive both sides, no buffering, a buffered access log like our request log. */
function nginxConfig(prefix: string, port: number, upstreamPort: number): string {
  return `${nginxPrelude(prefix)}  keepalive_timeout 300s;
  keepalive_requests 10000000;
  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 256;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:${port};
    location = /nginx-ready { return 204; }
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`;
}
