import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { fetchLocal, freePort, startProcess, waitUntil } from '../services.ts';
import { startNodeArgs } from '../targets.ts';
import { gatewayDocument } from './scenario.ts';
import { nginxConfig } from './nginx-config.ts';

// The deployment the drill breaks: a Redis of its own on a spare port, three
// `switchyard serve` replicas started as `npm start` starts one, and nginx in
// front of them. Each piece can be killed (SIGKILL), stopped (SIGTERM, the
// replica drains) and started again on the same port; what happened and when
// goes into one timeline, which the report reads to explain failures.

export interface ChaosEvent {
  /** ms since the drill started. */
  at: number;
  target: string;
  what: 'sigkill' | 'sigterm' | 'sigstop' | 'sigcont' | 'exited' | 'started' | 'ready';
  detail?: string;
}

export class Timeline {
  readonly events: ChaosEvent[] = [];
  private readonly started = performance.now();

  now(): number {
    return Math.round(performance.now() - this.started);
  }

  add(target: string, what: ChaosEvent['what'], detail?: string): void {
    this.events.push({ at: this.now(), target, what, ...(detail ? { detail } : {}) });
  }
}

async function answersPing(port: number): Promise<boolean> {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 500 });
  redis.on('error', () => {}); // not up yet: the answer is false
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** One process the drill manages: started again by the same recipe on the same port. */
abstract class Piece {
  readonly name: string;
  readonly port: number;
  protected child: ChildProcess | undefined;
  protected readonly timeline: Timeline;
  private exit: Promise<void> = Promise.resolve();

  constructor(name: string, port: number, timeline: Timeline) {
    this.name = name;
    this.port = port;
    this.timeline = timeline;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  protected abstract spawn(): ChildProcess;
  protected abstract ready(): Promise<boolean>;

  async start(): Promise<void> {
    const child = this.spawn();
    this.child = child;
    this.exit = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.timeline.add(this.name, 'exited', signal ?? `code ${code}`);
        resolve();
      }),
    );
    this.timeline.add(this.name, 'started');
    await waitUntil(this.name, async () => {
      if (child.exitCode !== null) throw new Error(`${this.name} exited with ${child.exitCode}`);
      return this.ready();
    });
    this.timeline.add(this.name, 'ready');
  }

  /** Sends the signal and resolves once the process has exited, with how long that took. */
  async signal(signal: 'SIGKILL' | 'SIGTERM'): Promise<number> {
    if (!this.running) return 0;
    const sent = performance.now();
    this.timeline.add(this.name, signal === 'SIGKILL' ? 'sigkill' : 'sigterm');
    this.child!.kill(signal);
    await this.exit;
    return performance.now() - sent;
  }

  /** SIGSTOP: the process hangs with its sockets open (a stalled server). */
  pause(): void {
    this.timeline.add(this.name, 'sigstop');
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.timeline.add(this.name, 'sigcont');
    this.child?.kill('SIGCONT');
  }

  exitCode(): number | string | undefined {
    return this.child?.exitCode ?? this.child?.signalCode ?? undefined;
  }
}

export class RedisServer extends Piece {
  private readonly directory: string;

  constructor(port: number, workDir: string, timeline: Timeline) {
    super('redis', port, timeline);
    this.directory = join(workDir, 'redis');
    mkdirSync(this.directory, { recursive: true });
  }

  protected spawn(): ChildProcess {
    // Nothing on disk: a restarted Redis is an empty one, as after losing a node.
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.directory];
    return startProcess('/usr/bin/redis-server', args, { stdout: join(this.directory, 'redis.log') });
  }

  protected ready(): Promise<boolean> {
    return answersPing(this.port);
  }
}

export class Replica extends Piece {
  private readonly config: string;
  private readonly log: string;
  private readonly repoRoot: string;

  constructor(options: {
    name: string;
    port: number;
    workDir: string;
    repoRoot: string;
    timeline: Timeline;
    busyUrl: string;
    steadyUrl: string;
    redisPort: number;
  }) {
    super(options.name, options.port, options.timeline);
    this.repoRoot = options.repoRoot;
    this.config = join(options.workDir, `${options.name}.yaml`);
    this.log = join(options.workDir, `${options.name}.log`);
    writeFileSync(
      this.config,
      stringify(gatewayDocument({ port: options.port, busyUrl: options.busyUrl, steadyUrl: options.steadyUrl, redisPort: options.redisPort })),
    );
  }

  protected spawn(): ChildProcess {
    // As `npm start` runs it (the built dist/, npm start's V8 flags); its log lines appended to one file per replica.
    return startProcess(process.execPath, [...startNodeArgs, 'dist/cli.js', 'serve', '--config', this.config], {
      cwd: this.repoRoot,
      stdout: this.log,
      stderr: this.log,
    });
  }

  protected async ready(): Promise<boolean> {
    return (await fetchLocal(this.port, '/readyz')).status === 200;
  }
}

export class Nginx extends Piece {
  private readonly prefix: string;
  private readonly replicaPorts: number[];

  constructor(port: number, replicaPorts: number[], workDir: string, timeline: Timeline) {
    super('nginx', port, timeline);
    this.replicaPorts = replicaPorts;
    this.prefix = join(workDir, 'nginx');
    mkdirSync(this.prefix, { recursive: true });
    chmodSync(workDir, 0o755); // workers run as nobody and create their temp folders here
    chmodSync(this.prefix, 0o755);
  }

  get errorLog(): string {
    return join(this.prefix, 'error.log');
  }

  protected spawn(): ChildProcess {
    const config = join(this.prefix, 'nginx.conf');
    writeFileSync(config, nginxConfig({ prefix: this.prefix, port: this.port, replicaPorts: this.replicaPorts }));
    return startProcess('nginx', ['-p', this.prefix, '-c', config, '-e', this.errorLog, '-g', 'daemon off;'], { stderr: join(this.prefix, 'stderr.log') });
  }

  protected async ready(): Promise<boolean> {
    return (await fetchLocal(this.port, '/nginx-ready')).status === 204;
  }
}

export interface Cluster {
  redis: RedisServer;
  replicas: Replica[];
  nginx: Nginx;
}

export async function startCluster(options: {
  replicas: number;
  workDir: string;
  repoRoot: string;
  timeline: Timeline;
  busyUrl: string;
  steadyUrl: string;
}): Promise<Cluster> {
  const redis = new RedisServer(await freePort(), options.workDir, options.timeline);
  await redis.start();
  const replicas: Replica[] = [];
  for (let index = 1; index <= options.replicas; index++) {
    replicas.push(new Replica({ ...options, name: `replica-${index}`, port: await freePort(), redisPort: redis.port }));
  }
  await Promise.all(replicas.map((replica) => replica.start()));
  const nginx = new Nginx(
    await freePort(),
    replicas.map((replica) => replica.port),
    options.workDir,
    options.timeline,
  );
  await nginx.start();
  return { redis, replicas, nginx };
}
