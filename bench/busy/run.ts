import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import { buildConfig } from '../../src/config/load-config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { GatewayMetrics } from '../../src/observability/metrics.ts';
import { Gateway } from '../../src/pipeline/gateway.ts';
import { createServer } from '../../src/server/create-server.ts';
import { createSimulatedProvider, type SimulatedProvider } from '../../src/sim/simulated-provider.ts';
import {
  defaultSettings,
  gatewayDocument,
  latency,
  rates,
  requestSequence,
  retryAfterSeconds,
  simOptions,
  type BenchRequest,
  type ScenarioSettings,
} from './scenario.ts';
import { renderStreamTable, renderTable, renderUpstreams, summarise, verdicts, type PassResult, type Sample, type Summary } from './stats.ts';

// `npm run bench:busy`: the busy-provider scenario of issue 3. The same
// request sequence goes (1) from the official OpenAI SDK straight to a primary
// that fails 8% of requests, and (2) from the same SDK, unchanged but for its
// base URL, through Switchyard to that primary plus two backups. Everything
// runs in this process on 127.0.0.1. See bench/busy/README.md.

const usage = `usage: npm run bench:busy -- [--requests N] [--concurrency N] [--stream-requests N]
       [--hold MS] [--hedge-after MS|none] [--first-token MS] [--seed N] [--out FILE.md] [--gateway-log FILE]`;

const { values: flags } = parseArgs({
  options: {
    requests: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '30' },
    'stream-requests': { type: 'string', default: '1000' },
    hold: { type: 'string', default: String(defaultSettings.holdMs) },
    'hedge-after': { type: 'string', default: String(defaultSettings.hedgeAfterMs) },
    'first-token': { type: 'string', default: String(defaultSettings.firstTokenMs) },
    seed: { type: 'string', default: String(defaultSettings.seed) },
    out: { type: 'string' },
    'gateway-log': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

const wholeNumber = (name: string, text: string, min: number): number => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} needs a whole number of at least ${min}, got "${text}"\n${usage}`);
  return value;
};

const requestCount = wholeNumber('requests', flags.requests, 1);
const concurrency = wholeNumber('concurrency', flags.concurrency, 1);
const streamCount = wholeNumber('stream-requests', flags['stream-requests'], 0);
const settings: ScenarioSettings = {
  holdMs: wholeNumber('hold', flags.hold, 0),
  hedgeAfterMs: flags['hedge-after'] === 'none' ? undefined : wholeNumber('hedge-after', flags['hedge-after'], 1),
  firstTokenMs: wholeNumber('first-token', flags['first-token'], 1),
  seed: wholeNumber('seed', flags.seed, 0),
};

type Simulators = Record<'primary' | 'backup-a' | 'backup-b', SimulatedProvider & { url: string; aborts: number }>;

async function startSimulators(): Promise<Simulators> {
  const options = simOptions(settings);
  const start = async (partial: Parameters<typeof createSimulatedProvider>[0]) => {
    const sim = createSimulatedProvider(partial);
    const { url } = await sim.listen();
    const running = Object.assign(sim, { url, aborts: 0 });
    sim.events.on('abort', (record) => {
      if (record.path.startsWith('/v1/chat')) running.aborts += 1;
    });
    return running;
  };
  return { primary: await start(options.primary), 'backup-a': await start(options.backupA), 'backup-b': await start(options.backupB) };
}

async function stopSimulators(sims: Simulators): Promise<void> {
  await Promise.all(Object.values(sims).map((sim) => sim.close()));
}

const outcomeKeys = ['ok', 'busy', 'hold', 'rate_limited', 'hang', 'drop', 'malformed', 'not_found', 'bad_request', 'unauthorized'] as const;

function upstreamFigures(sims: Simulators): Pick<PassResult, 'upstreamRequests' | 'upstreamOutcomes' | 'upstreamAborts'> {
  const upstreamRequests: Record<string, number> = {};
  const upstreamOutcomes: Record<string, Record<string, number>> = {};
  const upstreamAborts: Record<string, number> = {};
  for (const [name, sim] of Object.entries(sims)) {
    // Health checks (GET /v1/models) are not requests of the application.
    upstreamRequests[name] = sim.stats.total - sim.stats.models;
    upstreamOutcomes[name] = Object.fromEntries(outcomeKeys.map((key) => [key, sim.stats[key]]));
    upstreamAborts[name] = sim.aborts;
  }
  return { upstreamRequests, upstreamOutcomes, upstreamAborts };
}

/** `concurrency` closed-loop workers take the next request of the sequence until it is done. */
async function drive(requests: readonly BenchRequest[], send: (request: BenchRequest) => Promise<Sample>): Promise<Sample[]> {
  const samples: Sample[] = new Array(requests.length);
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const index = next++;
      samples[index] = await send(requests[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, worker));
  return samples;
}

function describeError(error: unknown): string {
  if (error instanceof OpenAI.APIError) return `${error.constructor.name} ${error.status ?? ''}`.trim();
  return error instanceof Error ? error.constructor.name : 'unknown error';
}

function attemptsOf(response: Response): number | undefined {
  const header = response.headers.get('x-switchyard-attempts');
  return header === null ? undefined : Number(header);
}

/** One non-stream request as an application makes it. */
function sendJson(client: OpenAI) {
  return async (request: BenchRequest): Promise<Sample> => {
    const started = performance.now();
    try {
      const { data, response } = await client.chat.completions.create(request).withResponse();
      const ok = typeof data.choices[0]?.message.content === 'string';
      return { ok, ms: performance.now() - started, attemptsHeader: attemptsOf(response), ...(ok ? {} : { error: 'no content' }) };
    } catch (error) {
      return { ok: false, ms: performance.now() - started, error: describeError(error) };
    }
  };
}

/** One streamed request: time to the first chunk the SDK yields, and to the end. */
function sendStream(client: OpenAI) {
  return async (request: BenchRequest): Promise<Sample> => {
    const started = performance.now();
    let firstChunkMs: number | undefined;
    try {
      const { data, response } = await client.chat.completions.create({ ...request, stream: true }).withResponse();
      let text = '';
      for await (const chunk of data) {
        firstChunkMs ??= performance.now() - started;
        text += chunk.choices[0]?.delta.content ?? '';
      }
      const ok = text.length > 0;
      return { ok, ms: performance.now() - started, firstChunkMs, attemptsHeader: attemptsOf(response), ...(ok ? {} : { error: 'empty stream' }) };
    } catch (error) {
      return { ok: false, ms: performance.now() - started, error: describeError(error) };
    }
  };
}

interface PassOptions {
  label: string;
  requests: readonly BenchRequest[];
  stream: boolean;
  through: 'direct' | 'switchyard';
}

async function runPass(options: PassOptions): Promise<PassResult & { gatewayNotes?: string }> {
  const sims = await startSimulators();
  let baseURL = sims.primary.url;
  let stopGateway: (() => Promise<void>) | undefined;
  let gateway: Gateway | undefined;
  if (options.through === 'switchyard') {
    const config = buildConfig(
      gatewayDocument({ primary: sims.primary.url, backupA: sims['backup-a'].url, backupB: sims['backup-b'].url }, settings),
      'bench/busy',
    );
    // Silent unless asked: one log line per request (attempts, failures, first token) for a closer look.
    const logger = flags['gateway-log'] ? createLogger({ level: 'info', destination: flags['gateway-log'], sync: false }) : createLogger({ level: 'silent' });
    gateway = new Gateway(config, { logger, metrics: new GatewayMetrics({ defaultMetrics: false }) });
    const app = createServer(gateway);
    const origin = await app.listen({ host: '127.0.0.1', port: 0 });
    baseURL = `${origin}/v1`;
    const running = gateway;
    stopGateway = async () => {
      const closing = app.close();
      app.server.closeAllConnections();
      await closing;
      await running.close();
    };
    const readyBy = performance.now() + 5_000;
    // Ready to compare: every route has a target the health checks have seen.
    while (Object.values(gateway.routeAvailability()).some((route) => route.available === 0)) {
      if (performance.now() > readyBy) throw new Error('the gateway did not become ready within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  // The application's code: the official SDK with its defaults (maxRetries 2, 10 min timeout). Only baseURL differs.
  const client = new OpenAI({ baseURL, apiKey: 'sk-bench-app-key' });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const started = performance.now();
  const samples = await drive(options.requests, options.stream ? sendStream(client) : sendJson(client));
  const wallMs = performance.now() - started;
  loop.disable();
  const figures = upstreamFigures(sims);
  let gatewayNotes: string | undefined;
  if (gateway) gatewayNotes = await describeGateway(gateway);
  await stopGateway?.();
  await stopSimulators(sims);
  return { label: options.label, samples, wallMs, eventLoopP99Ms: loop.percentile(99) / 1e6, ...figures, gatewayNotes };
}

/** Upstream attempt outcomes and breaker states as the gateway saw them, for the log. */
async function describeGateway(gateway: Gateway): Promise<string> {
  const metric = await gateway.metrics.registry.getSingleMetric('switchyard_upstream_attempts_total')?.get();
  const outcomes = (metric?.values ?? []).map((value) => `${value.labels.provider}/${value.labels.outcome} ${value.value}`).join(', ');
  const status = gateway.status() as { providers: Record<string, { circuit: { kind?: string; state?: string } | string; healthy: boolean }> };
  const breakers = Object.entries(status.providers)
    .map(([name, provider]) => `${name}: healthy ${provider.healthy}, circuit ${JSON.stringify(provider.circuit)}`)
    .join('; ');
  return `  gateway attempt outcomes: ${outcomes}\n  gateway provider state at the end: ${breakers}`;
}

function passLine(pass: PassResult): string {
  return `${pass.label}: ${pass.samples.length} requests in ${(pass.wallMs / 1000).toFixed(1)} s, event-loop delay p99 ${pass.eventLoopP99Ms.toFixed(1)} ms`;
}

function errorsLine(label: string, summary: Summary): string {
  const entries = Object.entries(summary.errors);
  return entries.length === 0 ? `  ${label}: no failed requests` : `  ${label} failures: ${entries.map(([error, count]) => `${error} × ${count}`).join(', ')}`;
}

const log = (line = '') => process.stdout.write(`${line}\n`);
const scenarioText = [
  `primary: 503 busy ${rates.primary.busyRate * 100}% + keep-alive hold ${rates.primary.holdRate * 100}% of ${settings.holdMs} ms (8% failing); backups: 503 busy ${rates.backup.busyRate * 100}%`,
  `latency (all three): lognormal, p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms, before any answer (503s included); Retry-After ${retryAfterSeconds} s on 503`,
  `Switchyard route: primary tier 1, backup-a + backup-b tier 2 (round-robin), hedge.after ${settings.hedgeAfterMs === undefined ? 'none' : `${settings.hedgeAfterMs} ms`}, timeouts.first_token ${settings.firstTokenMs} ms, retry defaults (3 attempts, 1 s..8 s backoff), provider policies default`,
  `client: openai SDK defaults on both sides (maxRetries 2, timeout 10 min); ${requestCount} non-stream requests${streamCount > 0 ? ` + ${streamCount} stream requests` : ''}, ${concurrency} concurrent, seed ${settings.seed}`,
];

const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${loadavg()[0]!.toFixed(2)} at start`;
log(`# bench/busy — ${new Date().toISOString()} — ${machine}`);
for (const line of scenarioText) log(`  ${line}`);
log();

const requests = requestSequence(requestCount);
const direct = await runPass({ label: 'direct, non-stream', requests, stream: false, through: 'direct' });
log(passLine(direct));
log(renderUpstreams(direct));
const viaGateway = await runPass({ label: 'Switchyard, non-stream', requests, stream: false, through: 'switchyard' });
log(passLine(viaGateway));
log(renderUpstreams(viaGateway));
if (viaGateway.gatewayNotes) log(viaGateway.gatewayNotes);

const directSummary = summarise(direct);
const gatewaySummary = summarise(viaGateway);
const table = renderTable(directSummary, gatewaySummary);
log();
log(table);
log(errorsLine('direct', directSummary));
log(errorsLine('Switchyard', gatewaySummary));

let streamTable: string | undefined;
if (streamCount > 0) {
  const streamRequests = requestSequence(streamCount);
  log();
  const directStream = await runPass({ label: 'direct, stream', requests: streamRequests, stream: true, through: 'direct' });
  log(passLine(directStream));
  log(renderUpstreams(directStream));
  const gatewayStream = await runPass({ label: 'Switchyard, stream', requests: streamRequests, stream: true, through: 'switchyard' });
  log(passLine(gatewayStream));
  log(renderUpstreams(gatewayStream));
  if (gatewayStream.gatewayNotes) log(gatewayStream.gatewayNotes);
  const directStreamSummary = summarise(directStream);
  const gatewayStreamSummary = summarise(gatewayStream);
  streamTable = renderStreamTable(directStreamSummary, gatewayStreamSummary);
  log();
  log(streamTable);
  log(errorsLine('direct stream', directStreamSummary));
  log(errorsLine('Switchyard stream', gatewayStreamSummary));
}

const met = verdicts(directSummary, gatewaySummary);
log();
log(
  `targets: success ${met.success ? 'met' : 'NOT met'}, mean ratio ${met.meanRatio ? 'met' : 'NOT met'}, p99 ${met.p99 ? 'met' : 'NOT met'}, attempts/request ${met.attempts ? 'met' : 'NOT met'}`,
);

if (flags.out) {
  const text = [
    `# bench/busy — ${new Date().toISOString()}`,
    '',
    machine,
    '',
    ...scenarioText.map((line) => `- ${line}`),
    '',
    table,
    '',
    ...(streamTable ? [streamTable, ''] : []),
  ].join('\n');
  writeFileSync(flags.out, text);
  log(`wrote ${flags.out}`);
}
