import { lookup } from 'node:dns/promises';
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { Agent, fetch, type Dispatcher } from 'undici';
import type { RedisConnection } from '../config/redis-schema.ts';
import type { Config, ProviderConfig } from '../config/schema.ts';
import { systemClock } from '../resilience/clock.ts';
import { createRedisClient } from '../state/redis-client.ts';
import { ProviderClient } from '../upstream/provider-client.ts';
import { checkGatewayCertificate } from './doctor-certificate.ts';
import { checkModelList, versionHint, type TargetModel } from './model-list-check.ts';

// The checks behind `switchyard doctor`, in the order a person would
// troubleshoot a provider by hand: does the name resolve, does the port
// answer (and TLS agree), does the health endpoint answer, is the key
// accepted. Each says what it found in plain words; a check whose
// prerequisite failed is skipped rather than failing again for the same cause.

/** `warn`: works today, needs doing soon (a certificate near its end); does not fail the run. */
export type Verdict = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  check: string;
  verdict: Verdict;
  detail: string;
}

export interface SubjectReport {
  kind: 'provider' | 'redis' | 'gateway';
  name: string;
  /** What is checked, with any password in a URL replaced by ***. */
  target: string;
  results: CheckResult[];
}

/** A URL as it may be printed: user info hidden. */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password) url.password = '***';
    else if (url.username && url.protocol.startsWith('http')) url.username = '***';
    return url.toString().replace(/\/$/, '');
  } catch {
    return '(not a URL)';
  }
}

const since = (start: number) => Math.round(performance.now() - start);

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} took longer than ${timeoutMs} ms`), { code: 'DOCTOR_TIMEOUT' })), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function checkDns(host: string, timeoutMs: number): Promise<{ result: CheckResult; address?: string }> {
  if (isIP(host)) return { result: { check: 'DNS', verdict: 'ok', detail: `${host} is an address; nothing to look up` }, address: host };
  const start = performance.now();
  try {
    const addresses = await withTimeout(lookup(host, { all: true }), timeoutMs, 'the lookup');
    const shown = addresses.map((entry) => entry.address);
    return {
      result: { check: 'DNS', verdict: 'ok', detail: `${host} → ${shown.slice(0, 3).join(', ')}${shown.length > 3 ? ', …' : ''} (${since(start)} ms)` },
      address: shown[0],
    };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const detail =
      code === 'ENOTFOUND'
        ? `${host} does not resolve: check the host in base_url, or this machine's DNS`
        : code === 'EAI_AGAIN' || code === 'DOCTOR_TIMEOUT'
          ? `no DNS answer for ${host} (${code === 'EAI_AGAIN' ? 'EAI_AGAIN' : `over ${timeoutMs} ms`}): is this machine online, is its resolver reachable?`
          : `looking up ${host} failed: ${(error as Error).message}`;
    return { result: { check: 'DNS', verdict: 'fail', detail } };
  }
}

async function checkConnect(address: string, port: number, tlsName: string | undefined, timeoutMs: number): Promise<CheckResult> {
  const start = performance.now();
  let tcpMs = 0;
  let socket: Socket | undefined;
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket = connectTcp({ host: address, port }, () => {
          tcpMs = since(start);
          if (tlsName === undefined) return resolve();
          // TLS over the same socket, verified against the name in base_url as a real call would be.
          const secure = connectTls({ socket, servername: isIP(tlsName) ? undefined : tlsName, host: tlsName, ALPNProtocols: ['http/1.1'] }, () => resolve());
          secure.once('error', reject);
          socket = secure;
        });
        socket.once('error', reject);
      }),
      timeoutMs,
      'connecting',
    );
    const tls = tlsName === undefined ? '' : `, TLS ${since(start) - tcpMs} ms (certificate valid for ${tlsName})`;
    return { check: 'connect', verdict: 'ok', detail: `${address} port ${port}: TCP ${tcpMs} ms${tls}` };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const detail =
      code === 'ECONNREFUSED'
        ? `nothing listens on ${address} port ${port} (connection refused): is the server up, is the port in base_url right?`
        : code === 'DOCTOR_TIMEOUT'
          ? `${address} port ${port} did not answer within ${timeoutMs} ms: a firewall, or the wrong port`
          : tcpMs > 0
            ? `TCP connected, TLS failed: ${(error as Error).message}`
            : `connecting to ${address} port ${port} failed: ${(error as Error).message}`;
    return { check: 'connect', verdict: 'fail', detail };
  } finally {
    socket?.destroy();
  }
}

const credentialHeaders = ['authorization', 'x-api-key', 'api-key'];

/** DNS, connect, health endpoint and API key for one provider; and whether it has the models `targets` ask of it. */
export async function checkProvider(name: string, config: ProviderConfig, timeoutMs: number, targets: readonly TargetModel[] = []): Promise<SubjectReport> {
  const url = new URL(config.base_url);
  const report: SubjectReport = { kind: 'provider', name, target: `${config.type} at ${redactUrl(config.base_url)}`, results: [] };
  const skipRest = (...checks: string[]) => {
    for (const check of checks) report.results.push({ check, verdict: 'skip', detail: 'not tried: the check above failed' });
  };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const dns = await checkDns(host, timeoutMs);
  report.results.push(dns.result);
  if (dns.address === undefined) {
    skipRest('connect', 'health', 'API key');
    return report;
  }
  const secure = url.protocol === 'https:';
  const port = Number(url.port || (secure ? 443 : 80));
  const connected = await checkConnect(dns.address, port, secure ? host : undefined, timeoutMs);
  report.results.push(connected);
  if (connected.verdict === 'fail') {
    skipRest('health', 'API key');
    return report;
  }

  const client = new ProviderClient(name, config, { clock: systemClock });
  try {
    const probe = client.adapter.healthProbe(config);
    const start = performance.now();
    const answer = await client.probeStatus(probe, timeoutMs);
    const ms = since(start);
    const refused = 'statusCode' in answer && (answer.statusCode === 401 || answer.statusCode === 403);
    if ('problem' in answer)
      report.results.push({ check: 'health', verdict: 'fail', detail: `${probe.method} ${client.basePath}${probe.path}: ${answer.problem}` });
    else {
      const healthy = answer.statusCode === probe.expectedStatus;
      const detail = `${probe.method} ${client.basePath}${probe.path} answered ${answer.statusCode} in ${ms} ms${healthy ? '' : `, expected ${probe.expectedStatus}${refused ? ' (see API key)' : ''}${versionHint(config, answer.statusCode)}`}`;
      report.results.push({ check: 'health', verdict: healthy ? 'ok' : 'fail', detail });
    }

    const sendsKey = Object.keys(probe.headers ?? {}).some((header) => credentialHeaders.includes(header.toLowerCase()) && probe.headers![header] !== '');
    const configuredKey = 'api_key' in config && typeof config.api_key === 'string' && config.api_key !== '';
    if (!configuredKey && !sendsKey) report.results.push({ check: 'API key', verdict: 'skip', detail: 'none configured (api_key), none sent' });
    else if (!sendsKey)
      report.results.push({ check: 'API key', verdict: 'skip', detail: `not checked: the ${config.type} health endpoint is called without it` });
    else if ('problem' in answer) report.results.push({ check: 'API key', verdict: 'skip', detail: 'not checked: the health endpoint gave no answer' });
    else if (refused)
      report.results.push({
        check: 'API key',
        verdict: 'fail',
        detail: `refused (${answer.statusCode}): the key is wrong, revoked, or for another account; requests to ${name} will fail until it is replaced`,
      });
    else if (answer.statusCode === probe.expectedStatus) report.results.push({ check: 'API key', verdict: 'ok', detail: 'accepted' });
    else report.results.push({ check: 'API key', verdict: 'skip', detail: `not confirmed: the health endpoint answered ${answer.statusCode}` });

    // OpenAI-compatible APIs list their models at the health endpoint: the routes' models should be among them.
    const healthy = 'statusCode' in answer && answer.statusCode === 200;
    if (healthy && config.type === 'openai' && probe.path === '/models' && targets.length > 0)
      report.results.push(await checkModelList(config, probe.headers ?? {}, targets, timeoutMs));
  } finally {
    await client.destroy();
  }
  return report;
}

/** Where a configured Redis is, as it may be printed (no password). */
export function describeRedis(connection: RedisConnection): string {
  const nodes = (list: { host: string; port: number }[]) => list.map((node) => `${node.host}:${node.port}`).join(', ');
  if (connection.sentinel) return `master "${connection.sentinel.master}" through Sentinel ${nodes(connection.sentinel.nodes)}`;
  if (connection.cluster) return `Redis Cluster ${nodes(connection.cluster.nodes)}`;
  return redactUrl(connection.url!);
}

/** One Redis (response cache or shared state): connect (through Sentinel, or to a Cluster), authenticate, PING. */
export async function checkRedis(name: string, connection: RedisConnection, timeoutMs: number): Promise<SubjectReport> {
  const report: SubjectReport = { kind: 'redis', name, target: describeRedis(connection), results: [] };
  // No reconnect loop and no offline queue: one honest attempt, like the other checks.
  const redis = await createRedisClient(connection, { lazyConnect: true, reconnect: false, connectTimeoutMs: timeoutMs });
  let socketError: Error | undefined;
  redis.on('error', (error: Error) => (socketError ??= error)); // reported below, with its cause; ioredis would otherwise print it
  redis.on('node error', (error: Error) => (socketError ??= error)); // a Cluster's node says why, before the cluster's "all nodes failed"
  const start = performance.now();
  try {
    await withTimeout(redis.connect(), timeoutMs, 'connecting');
    const pong = await withTimeout(redis.ping(), timeoutMs, 'PING');
    report.results.push({ check: 'reachable', verdict: pong === 'PONG' ? 'ok' : 'fail', detail: `${pong} in ${since(start)} ms` });
  } catch (thrown) {
    // When the socket fails, connect() only says "Connection is closed"; the socket's own error says why.
    const error = (socketError ?? thrown) as NodeJS.ErrnoException;
    const message = error.message;
    const code = error.code ?? (thrown as NodeJS.ErrnoException).code;
    const detail =
      code === 'ECONNREFUSED'
        ? 'nothing listens there (connection refused): is Redis running, is the port right?'
        : /NOAUTH|WRONGPASS|invalid password/i.test(message)
          ? /sentinel/i.test(message)
            ? 'the Sentinels refused their credentials (sentinel: { username, password })'
            : `Redis refused the credentials ${connection.url ? 'in the URL' : '(username, password)'}`
          : code === 'DOCTOR_TIMEOUT' || /ETIMEDOUT/.test(message)
            ? `no answer within ${timeoutMs} ms: a firewall, or the wrong host`
            : `failed: ${message}`;
    report.results.push({ check: 'reachable', verdict: 'fail', detail });
  } finally {
    // After a failed connect the client has already ended; disconnecting again would leave a 2 s timer behind.
    if (redis.status !== 'end') redis.disconnect();
  }
  return report;
}

/** Lookups and hits of the response cache, summed from a gateway's /metrics text. */
export function cacheFigures(metrics: string): { lookups: number; memoryHits: number; redisHits: number; redisErrors: number } {
  const count = (tier: string, result: string) => {
    const match = new RegExp(`^switchyard_cache_requests_total\\{tier="${tier}",result="${result}"\\} (\\S+)$`, 'm').exec(metrics);
    return match ? Number(match[1]) : 0;
  };
  const memoryHits = count('memory', 'hit');
  // Every lookup starts in memory: its hits, misses and expired finds are all the lookups there were.
  return {
    lookups: memoryHits + count('memory', 'miss') + count('memory', 'stale'),
    memoryHits,
    redisHits: count('redis', 'hit'),
    redisErrors: count('redis', 'error'),
  };
}

/** Where a listener on `host` is reached from this machine. */
/** Where a listener on `host` is reached from this machine. */
const loopbackFor = (host: string) => (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);

function localOrigin(host: string, port: number, scheme: 'http' | 'https' = 'http'): string {
  const listening = loopbackFor(host);
  return `${scheme}://${listening.includes(':') ? `[${listening}]` : listening}:${port}`;
}

const percent = (part: number, whole: number) => `${Math.round((part / whole) * 100)}%`;

interface IncidentView {
  subject: string;
  name: string;
  ongoing: boolean;
  since: string;
  summary: string;
  actions: string[];
}

/** The running gateway's own incident summaries (GET /admin/incidents): a failure per ongoing one, the rest as history. */
async function incidentResults(origin: string, adminKey: string | undefined, timeoutMs: number, dispatcher: Dispatcher | undefined): Promise<CheckResult[]> {
  let incidents: IncidentView[];
  try {
    const answer = await fetch(`${origin}/admin/incidents`, {
      headers: adminKey ? { authorization: `Bearer ${adminKey}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
      dispatcher,
    });
    if (answer.status === 401 || answer.status === 403)
      return [
        {
          check: 'incidents',
          verdict: 'skip',
          detail: `not checked: /admin/incidents needs a key with admin: true, and the config has none as \`key\` (answered ${answer.status})`,
        },
      ];
    incidents = ((await answer.json()) as { incidents?: IncidentView[] }).incidents ?? [];
  } catch (error) {
    return [{ check: 'incidents', verdict: 'skip', detail: `/admin/incidents could not be read: ${(error as Error).message}` }];
  }
  if (incidents.length === 0) return [{ check: 'incidents', verdict: 'ok', detail: 'no provider or route in trouble now or in the last hour' }];
  return incidents.map((incident) => ({
    check: 'incident',
    verdict: incident.ongoing ? 'fail' : 'ok',
    detail: `${incident.subject} ${incident.name}, since ${incident.since}${incident.ongoing ? '' : ' (over)'}: ${incident.summary}${incident.actions.length > 0 ? ` Doing: ${incident.actions.join('; ')}.` : ''}`,
  }));
}

/**
 * The gateway this config describes, if it is running here: is it ready (every
 * route has a target it can serve), and how often does its response cache answer.
 * Not running is not a failure: doctor is often run before the gateway is.
 */
export async function checkGateway(config: Config, timeoutMs: number, plainAdminKey?: string): Promise<SubjectReport> {
  const adminKey = config.server.admin ? undefined : plainAdminKey;
  // Over TLS its certificate names the gateway's public name, not the loopback address: the certificate check judges it.
  const dispatcher = config.server.tls ? new Agent({ connect: { rejectUnauthorized: false } }) : undefined;
  try {
    return await checkRunningGateway(config, timeoutMs, adminKey, dispatcher);
  } finally {
    await dispatcher?.close();
  }
}

async function checkRunningGateway(
  config: Config,
  timeoutMs: number,
  adminKey: string | undefined,
  dispatcher: Dispatcher | undefined,
): Promise<SubjectReport> {
  const tls = config.server.tls;
  const listening = loopbackFor(config.server.host);
  const origin = localOrigin(config.server.host, config.server.port, tls ? 'https' : 'http');
  const report: SubjectReport = { kind: 'gateway', name: 'switchyard', target: origin, results: [] };
  const start = performance.now();
  let readiness: { status: number; routes: Record<string, { available: number }> };
  try {
    const answer = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(timeoutMs), dispatcher });
    readiness = { status: answer.status, routes: ((await answer.json()) as { routes?: Record<string, { available: number }> }).routes ?? {} };
  } catch {
    report.results.push({
      check: 'running',
      verdict: 'skip',
      detail: `no Switchyard answers at ${origin}: start it (switchyard serve) to check its readiness and cache hit rate`,
    });
    if (tls) report.results.push(await checkGatewayCertificate(tls, listening, config.server.port, false, timeoutMs));
    return report;
  }
  if (tls) report.results.push(await checkGatewayCertificate(tls, listening, config.server.port, true, timeoutMs));
  const unserved = Object.entries(readiness.routes)
    .filter(([, route]) => route.available === 0)
    .map(([name]) => name);
  report.results.push(
    readiness.status === 200
      ? { check: 'ready', verdict: 'ok', detail: `every route has a target it can serve (answered in ${since(start)} ms)` }
      : {
          check: 'ready',
          verdict: 'fail',
          detail: `not ready: ${unserved.length > 0 ? `route${unserved.length === 1 ? '' : 's'} ${unserved.join(', ')} ha${unserved.length === 1 ? 's' : 've'} no target that is healthy with a closed breaker` : `/readyz answered ${readiness.status}`}`,
        },
  );
  // /metrics and /admin/incidents are on the admin plane: its own listener with server.admin, else the gateway's port with an admin key when auth.keys is set.
  const admin = config.server.admin;
  const adminOrigin = admin ? localOrigin(admin.host, admin.port) : origin;
  report.results.push(...(await incidentResults(adminOrigin, adminKey, timeoutMs, admin ? undefined : dispatcher)));
  if (!Object.values(config.routes).some((route) => route.cache)) {
    report.results.push({ check: 'cache', verdict: 'skip', detail: 'no route has a cache' });
    return report;
  }
  if (config.auth && !admin && !adminKey) {
    report.results.push({
      check: 'cache',
      verdict: 'skip',
      detail: "not checked: the gateway's /metrics needs a key with admin: true, and the config has none as `key` (a key_sha256 cannot be sent)",
    });
    return report;
  }
  try {
    const answer = await fetch(`${adminOrigin}/metrics`, {
      headers: adminKey ? { authorization: `Bearer ${adminKey}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
      dispatcher: admin ? undefined : dispatcher,
    });
    if (!answer.ok) throw new Error(`it answered ${answer.status}`);
    const figures = cacheFigures(await answer.text());
    const hits = figures.memoryHits + figures.redisHits;
    const redis = config.cache.redis
      ? ` (memory ${percent(figures.memoryHits, figures.lookups || 1)}, Redis ${percent(figures.redisHits, figures.lookups || 1)}${figures.redisErrors > 0 ? `; ${figures.redisErrors} Redis lookups failed and went to a provider` : ''})`
      : '';
    report.results.push(
      figures.lookups === 0
        ? { check: 'cache', verdict: 'skip', detail: 'no lookups since the gateway started' }
        : {
            check: 'cache',
            verdict: 'ok',
            detail: `hit rate ${percent(hits, figures.lookups)} over ${figures.lookups.toLocaleString('en-US')} lookups since the gateway started${redis}`,
          },
    );
  } catch (error) {
    report.results.push({ check: 'cache', verdict: 'fail', detail: `/metrics could not be read: ${(error as Error).message}` });
  }
  return report;
}
