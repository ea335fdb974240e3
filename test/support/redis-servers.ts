import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { closedPort } from './closed-port.ts';
import { eventually } from './eventually.ts';
import { tempDir } from './temp-dir.ts';

// Redis as production runs it, started by the test itself: a master with a
// replica watched by Sentinels, and a Cluster of three masters. Each server
// is a real `redis-server` on a free port in a temporary folder of its own,
// stopped when the test file ends (and killed if the test process exits
// first), so the machine's own Redis is never touched. Every server asks for
// a password, as production ones do, so the tests prove the gateway's
// credentials reach each connection it makes. Without `redis-server`
// on a laptop these tests skip; with CI set they must run.

export interface RedisServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Stops it hard (a crash) or as a person would (SIGTERM), and waits for the process to end. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that hangs with its sockets open. */
  pause(): void;
  resume(): void;
}

const living = new Set<ChildProcess>();
let exitHook = false;

function redisToolsInstalled(): boolean {
  return ['redis-server', 'redis-cli'].every((tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0);
}

/** Whether this machine can run the servers (for `before`, which cannot skip). */
export const redisToolsPresent = redisToolsInstalled();

/** true when the test can go on; false when it was skipped for want of redis-server. */
export function needsRedisServer(context: TestContext): boolean {
  if (redisToolsPresent) return true;
  if (process.env.CI) assert.fail('CI is set but redis-server and redis-cli are not installed');
  context.skip('redis-server and redis-cli are not installed (CI runs this with them)');
  return false;
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'));
    socket.setTimeout(500, () => socket.destroy());
    socket.once('data', (data) => {
      socket.destroy();
      resolve(/^(\+PONG|-NOAUTH)/.test(data.toString()));
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

/** The password each server started here asks for, by port: `command` gives it. */
const passwords = new Map<number, string>();

/** One redis-server with `settings` (lines of its config file) in a new folder under `parent`. */
export async function startRedisServer(
  parent: string,
  name: string,
  settings: (port: number) => string[],
  options: { sentinel?: boolean; password: string },
): Promise<RedisServer> {
  const sentinel = options.sentinel ?? false;
  const directory = join(parent, name);
  mkdirSync(directory, { recursive: true });
  // A port free a moment ago may be taken by someone else by now: then the server exits, and another port is tried.
  for (let attempt = 1; ; attempt += 1) {
    const port = await closedPort();
    const file = join(directory, 'redis.conf');
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${directory}`,
        `logfile ${join(directory, 'redis.log')}`,
        ...(sentinel ? [] : ['save ""', 'appendonly no']),
        `requirepass ${options.password}`,
        ...settings(port),
      ].join('\n') + '\n',
    );
    const child = spawn('redis-server', sentinel ? [file, '--sentinel'] : [file], { stdio: 'ignore' });
    living.add(child);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const running of living) running.kill('SIGKILL');
      });
    }
    let gone = false;
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        gone = true;
        living.delete(child);
        resolve();
      }),
    );
    await eventually(`redis-server ${name} answers on ${port}`, async () => gone || (await answersPing(port)));
    if (gone) {
      assert.ok(attempt < 3, `redis-server ${name} would not start (see ${join(directory, 'redis.log')})`);
      continue;
    }
    passwords.set(port, options.password);
    return {
      host: '127.0.0.1',
      port,
      stop: async (signal = 'SIGTERM') => {
        if (gone) return;
        child.kill('SIGCONT');
        child.kill(signal);
        await exited;
      },
      pause: () => child.kill('SIGSTOP'),
      resume: () => child.kill('SIGCONT'),
    };
  }
}

/** Runs one command on a server and hangs up. */
export async function command(port: number, ...args: string[]): Promise<unknown> {
  const redis = new Redis({ host: '127.0.0.1', port, password: passwords.get(port), retryStrategy: () => null, maxRetriesPerRequest: 0 });
  redis.on('error', () => {}); // the command's own failure says it
  try {
    return await redis.call(args[0]!, ...args.slice(1));
  } finally {
    redis.disconnect();
  }
}

export interface SentinelSetup {
  /** The two data servers: master and replica at first, swapped by each failover. */
  servers: RedisServer[];
  sentinels: RedisServer[];
  /** The gateway's `state.redis` without its prefix: the Sentinels (with their password) and the servers' password. */
  redis: { sentinel: { master: string; nodes: string[]; password: string }; password: string };
  /** The same, as a RedisLink takes it (after the config's parsing). */
  connection: { sentinel: { master: string; nodes: { host: string; port: number }[]; password: string }; password: string };
  /** The port the Sentinels name as master now. */
  masterPort(): Promise<number>;
  /** Waits until every Sentinel names one master and sees the other server as its replica, in sync: ready for a failover. */
  settled(): Promise<{ master: RedisServer; replica: RedisServer }>;
  close(): Promise<void>;
}

/** Redis's flat [name, value, name, value, ...] replies as an object. */
function fields(reply: unknown): Record<string, string> {
  const list = reply as string[];
  return Object.fromEntries(Array.from({ length: list.length / 2 }, (_, index) => [list[index * 2], list[index * 2 + 1]]));
}

/**
 * A master, one replica and `count` Sentinels (quorum: a majority), tuned to
 * fail over within about a second of the master going: down after 500 ms.
 */
export async function startSentinelSetup(count = 3): Promise<SentinelSetup> {
  const parent = tempDir('switchyard-sentinel-');
  const name = 'switchyard-test';
  const password = 'data-secret-for-the-test';
  const sentinelPassword = 'sentinel-secret-for-the-test';
  // No wait for more replicas before a full sync (5 s by default), on either: each may become master.
  const data = (lines: string[]) => () => [`masterauth ${password}`, 'repl-diskless-sync-delay 0', ...lines];
  const master = await startRedisServer(parent, 'master', data([]), { password });
  const replica = await startRedisServer(parent, 'replica', data([`replicaof 127.0.0.1 ${master.port}`]), { password });
  const quorum = Math.floor(count / 2) + 1;
  const sentinels = await Promise.all(
    Array.from({ length: count }, (_, index) =>
      startRedisServer(
        parent,
        `sentinel-${index}`,
        () => [
          `sentinel monitor ${name} 127.0.0.1 ${master.port} ${quorum}`,
          `sentinel auth-pass ${name} ${password}`,
          `sentinel sentinel-pass ${sentinelPassword}`,
          `sentinel down-after-milliseconds ${name} 500`,
          `sentinel failover-timeout ${name} 3000`,
        ],
        { sentinel: true, password: sentinelPassword },
      ),
    ),
  );
  const servers = [master, replica];
  const masterPortSeenBy = async (sentinel: RedisServer) =>
    Number(((await command(sentinel.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[])[1]);
  const settled = async () => {
    let port = 0;
    // Sentinels find the replica from the master, and each other through the master's hello channel (every 2 s).
    await eventually('every Sentinel names one master, a replica in sync and the other Sentinels', async () => {
      const ports = new Set(await Promise.all(sentinels.map(masterPortSeenBy)));
      if (ports.size !== 1) return false;
      port = [...ports][0]!;
      const other = servers.find((server) => server.port !== port)!;
      if (!String(await command(other.port, 'INFO', 'replication')).includes('master_link_status:up')) return false;
      for (const sentinel of sentinels) {
        const replicas = ((await command(sentinel.port, 'SENTINEL', 'REPLICAS', name)) as unknown[]).map(fields);
        const others = (await command(sentinel.port, 'SENTINEL', 'SENTINELS', name)) as unknown[];
        if (!replicas.some((entry) => Number(entry.port) === other.port && entry.flags === 'slave') || others.length < count - 1) return false;
      }
      return true;
    });
    return { master: servers.find((server) => server.port === port)!, replica: servers.find((server) => server.port !== port)! };
  };
  await settled();
  return {
    servers,
    sentinels,
    redis: { sentinel: { master: name, nodes: sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`), password: sentinelPassword }, password },
    connection: {
      sentinel: { master: name, nodes: sentinels.map((sentinel) => ({ host: sentinel.host, port: sentinel.port })), password: sentinelPassword },
      password,
    },
    masterPort: () => masterPortSeenBy(sentinels[0]!),
    settled,
    close: async () => {
      await Promise.all([...sentinels, ...servers].map((server) => server.stop('SIGKILL')));
    },
  };
}

export interface ClusterSetup {
  nodes: RedisServer[];
  /** The gateway's `state.redis` or `cache.redis` without its prefix: the nodes and their password. */
  redis: { cluster: { nodes: string[] }; password: string };
  /** The same, as a RedisLink takes it (after the config's parsing). */
  connection: { cluster: { nodes: { host: string; port: number }[] }; password: string };
  /** The master that holds `key`. */
  nodeFor(key: string): Promise<RedisServer>;
  close(): Promise<void>;
}

/** `masters` cluster-enabled servers (each with its bus on a free port), joined by `redis-cli --cluster create`. */
export async function startCluster(masters = 3): Promise<ClusterSetup> {
  const parent = tempDir('switchyard-cluster-');
  const password = 'cluster-secret-for-the-test';
  const buses = await Promise.all(Array.from({ length: masters }, () => closedPort()));
  const nodes = await Promise.all(
    buses.map((bus, index) =>
      // A long node timeout: a node paused by a test is not failed by the others meanwhile.
      startRedisServer(
        parent,
        `node-${index}`,
        () => ['cluster-enabled yes', `cluster-port ${bus}`, 'cluster-config-file nodes.conf', 'cluster-node-timeout 15000', `masterauth ${password}`],
        { password },
      ),
    ),
  );
  const create = spawn(
    'redis-cli',
    ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-yes', '-a', password, '--no-auth-warning'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  create.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  create.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => create.once('exit', resolve));
  assert.equal(code, 0, `redis-cli --cluster create failed:\n${output}`);
  await eventually('every node says the cluster is ok', async () => {
    for (const node of nodes) if (!String(await command(node.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
    return true;
  });
  return {
    nodes,
    redis: { cluster: { nodes: nodes.map((node) => `127.0.0.1:${node.port}`) }, password },
    connection: { cluster: { nodes: nodes.map((node) => ({ host: node.host, port: node.port })) }, password },
    nodeFor: async (key) => {
      const slot = Number(await command(nodes[0]!.port, 'CLUSTER', 'KEYSLOT', key));
      const ranges = (await command(nodes[0]!.port, 'CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
      const owner = ranges.find(([first, last]) => slot >= first && slot <= last)![2][1];
      return nodes.find((node) => node.port === owner)!;
    },
    close: async () => {
      await Promise.all(nodes.map((node) => node.stop('SIGKILL')));
    },
  };
}
