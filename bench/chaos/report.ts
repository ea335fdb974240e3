import type { ActionRecord } from './chaos-loop.ts';
import type { ChaosEvent } from './cluster.ts';
import { answerCause, type Exchange, type RequestRecord } from './traffic.ts';

// What the application saw during the drill, and why: counts, each failure
// after the SDK's retries with its cause and the chaos events around it, the
// failures the SDK's retries hid, and the calls each request cost.

export interface DrillInput {
  records: RequestRecord[];
  actions: ActionRecord[];
  events: ChaosEvent[];
  /** Replica name by port, to name the replica nginx sent a request to. */
  replicaByPort: Map<number, string>;
  /** Chat completion requests each simulated provider received. */
  upstreamCalls: Record<string, number>;
  /** nginx's error log lines, counted by what they say. */
  nginxErrors: Record<string, number>;
  wallSeconds: number;
}

export interface FailureDetail {
  index: number;
  stream: boolean;
  cause: string;
  message: string;
  startedAt: number;
  endedAt: number;
  chunks: number;
  replicas: string;
  exchanges: Exchange[];
  /** Chaos events between the request's start and its end. */
  during: string[];
}

export interface DrillSummary {
  requests: { total: number; stream: number; json: number; ok: number; failed: number; successRate: number; perSecond: number };
  failures: Record<string, number>;
  failureDetails: FailureDetail[];
  rescuedDetails: FailureDetail[];
  /** Requests the SDK's retries rescued, by what their first failed exchange was. */
  rescued: Record<string, number>;
  calls: {
    sdkExchangesPerRequest: number;
    nginxTriesPerExchange: number;
    gatewayAttemptsPerRequest: number;
    upstreamCallsPerRequest: number;
    /** The same, over requests not answered from the cache. */
    upstreamCallsPerUncachedRequest: number;
    upstreamCalls: Record<string, number>;
  };
  cacheHits: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** Requests in flight at some moment while a piece was out (from its signal until it was ready again), and those that never were. */
  byCondition: Record<string, { requests: number; failed: number; p50: number; p99: number }>;
  actions: Record<string, { count: number; exitMs: number[]; exits: (number | string | undefined)[]; outMs: number[] }>;
  nginxErrors: Record<string, number>;
}

const quantile = (sorted: number[], q: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
const count = (into: Record<string, number>, key: string) => (into[key] = (into[key] ?? 0) + 1);

/** nginx's $upstream_addr ("127.0.0.1:A, 127.0.0.1:B") as replica names. */
function replicasOf(upstream: string | undefined, byPort: Map<number, string>): string[] {
  if (!upstream) return [];
  return upstream.split(/[,:]\s*/).flatMap((part) => (/^\d+$/.test(part) ? [byPort.get(Number(part)) ?? part] : []));
}

/** Why one exchange the SDK retried was not an answer. */
function exchangeCause(exchange: Exchange): string {
  return exchange.error ? `connection error (${exchange.error.split(':')[0]})` : answerCause(exchange);
}

export function summarise(input: DrillInput): DrillSummary {
  const { records } = input;
  const failures: Record<string, number> = {};
  const rescued: Record<string, number> = {};
  const failureDetails: FailureDetail[] = [];
  const rescuedDetails: FailureDetail[] = [];
  const detail = (record: RequestRecord, cause: string): FailureDetail => ({
    index: record.index,
    stream: record.stream,
    cause,
    message: record.failure?.message ?? '',
    startedAt: record.startedAt,
    endedAt: record.endedAt,
    chunks: record.chunks,
    replicas: record.exchanges.map((exchange) => replicasOf(exchange.upstream, input.replicaByPort).join(' > ') || '-').join(' | '),
    exchanges: record.exchanges,
    during: input.events
      .filter((event) => event.at >= record.startedAt - 200 && event.at <= record.endedAt + 200 && event.what !== 'ready' && event.what !== 'started')
      .map((event) => `${event.at} ms ${event.target} ${event.what}${event.detail ? ` (${event.detail})` : ''}`),
  });
  for (const record of records) {
    if (!record.ok) {
      const cause = record.failure?.cause ?? 'unknown';
      count(failures, cause);
      failureDetails.push(detail(record, cause));
    } else if (record.exchanges.length > 1) {
      const cause = exchangeCause(record.exchanges[0]!);
      count(rescued, cause);
      rescuedDetails.push(detail(record, cause));
    }
  }
  const ok = records.filter((record) => record.ok);
  const durations = ok.map((record) => record.endedAt - record.startedAt).sort((left, right) => left - right);
  const exchanges = records.flatMap((record) => record.exchanges);
  const withAttempts = records.filter((record) => Number.isFinite(record.gatewayAttempts));
  const upstreamTotal = Object.values(input.upstreamCalls).reduce((sum, value) => sum + value, 0);
  const actions: DrillSummary['actions'] = {};
  for (const action of input.actions) {
    const row = (actions[action.kind] ??= { count: 0, exitMs: [], exits: [], outMs: [] });
    row.count += 1;
    row.exitMs.push(action.exitMs);
    row.exits.push(action.exit);
    row.outMs.push(action.outMs);
  }
  const total = records.length;
  const cacheHits = records.filter((record) => record.cache === 'hit').length;
  return {
    byCondition: byCondition(records, input.actions),
    requests: {
      total,
      stream: records.filter((record) => record.stream).length,
      json: records.filter((record) => !record.stream).length,
      ok: ok.length,
      failed: total - ok.length,
      successRate: total === 0 ? 0 : ok.length / total,
      perSecond: total / input.wallSeconds,
    },
    failures,
    failureDetails,
    rescuedDetails,
    rescued,
    calls: {
      sdkExchangesPerRequest: exchanges.length / Math.max(1, total),
      nginxTriesPerExchange:
        exchanges.reduce((sum, exchange) => sum + Math.max(1, replicasOf(exchange.upstream, input.replicaByPort).length), 0) / Math.max(1, exchanges.length),
      gatewayAttemptsPerRequest: withAttempts.reduce((sum, record) => sum + record.gatewayAttempts!, 0) / Math.max(1, withAttempts.length),
      upstreamCallsPerRequest: upstreamTotal / Math.max(1, total),
      upstreamCallsPerUncachedRequest: upstreamTotal / Math.max(1, total - cacheHits),
      upstreamCalls: input.upstreamCalls,
    },
    cacheHits,
    latencyMs: { p50: quantile(durations, 0.5), p99: quantile(durations, 0.99), max: durations.at(-1) ?? 0 },
    actions,
    nginxErrors: input.nginxErrors,
  };
}

function byCondition(records: RequestRecord[], actions: ActionRecord[]): DrillSummary['byCondition'] {
  const groups = new Map<string, RequestRecord[]>();
  for (const record of records) {
    const conditions = actions.filter((action) => record.endedAt >= action.at && record.startedAt < action.at + action.outMs).map((action) => action.kind);
    for (const condition of conditions.length === 0 ? ['everything up'] : new Set(conditions)) {
      const group = groups.get(condition) ?? [];
      group.push(record);
      groups.set(condition, group);
    }
  }
  return Object.fromEntries(
    [...groups].map(([condition, group]) => {
      const durations = group
        .filter((record) => record.ok)
        .map((record) => record.endedAt - record.startedAt)
        .sort((left, right) => left - right);
      return [
        condition,
        { requests: group.length, failed: group.filter((record) => !record.ok).length, p50: quantile(durations, 0.5), p99: quantile(durations, 0.99) },
      ];
    }),
  );
}

/** nginx error-log lines reduced to what happened ("connect() failed (111: Connection refused)", "upstream prematurely closed connection", ...). */
export function countNginxErrors(text: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /\[(?:error|warn|crit|alert)\] \d+#\d+: \*\d+ (.*?)(?: while [^,]*)?,/.exec(line);
    if (match) count(counts, match[1]!.replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'ADDR'));
  }
  return counts;
}

const percent = (value: number) => `${(value * 100).toFixed(value === 1 ? 0 : 2)}%`;
const range = (values: number[]) => (values.length === 0 ? '-' : `${Math.min(...values)}–${Math.max(...values)}`);

export function renderSummary(summary: DrillSummary): string {
  const { requests, calls } = summary;
  const lines = [
    '| requests | non-stream | stream | answered | client-visible failures | success | req/s |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    `| ${requests.total} | ${requests.json} | ${requests.stream} | ${requests.ok} | ${requests.failed} | ${percent(requests.successRate)} | ${requests.perSecond.toFixed(1)} |`,
    '',
    '| chaos action | times | exit after signal, ms | exit | out until ready again, ms |',
    '|---|---:|---|---|---|',
    ...Object.entries(summary.actions).map(
      ([kind, row]) => `| ${kind} | ${row.count} | ${range(row.exitMs)} | ${[...new Set(row.exits.map(String))].join(', ')} | ${range(row.outMs)} |`,
    ),
    '',
    '| requests in flight while | requests | failed | p50 ms | p99 ms |',
    '|---|---:|---:|---:|---:|',
    ...Object.entries(summary.byCondition).map(([condition, row]) => `| ${condition} | ${row.requests} | ${row.failed} | ${row.p50} | ${row.p99} |`),
    '',
    "| client-visible failure (after the SDK's retries) | requests |",
    '|---|---:|',
    ...(Object.keys(summary.failures).length === 0
      ? ['| none | 0 |']
      : Object.entries(summary.failures)
          .sort((a, b) => b[1] - a[1])
          .map(([cause, n]) => `| ${cause} | ${n} |`)),
    '',
    "| rescued by the SDK's retries (first exchange) | requests |",
    '|---|---:|',
    ...(Object.keys(summary.rescued).length === 0
      ? ['| none | 0 |']
      : Object.entries(summary.rescued)
          .sort((a, b) => b[1] - a[1])
          .map(([cause, n]) => `| ${cause} | ${n} |`)),
    '',
    `calls per request: SDK exchanges ${calls.sdkExchangesPerRequest.toFixed(3)}, nginx tries per exchange ${calls.nginxTriesPerExchange.toFixed(3)}, gateway upstream attempts ${calls.gatewayAttemptsPerRequest.toFixed(3)} (x-switchyard-attempts), upstream calls ${calls.upstreamCallsPerRequest.toFixed(3)} (${calls.upstreamCallsPerUncachedRequest.toFixed(3)} per request not answered from the cache; ${Object.entries(
      calls.upstreamCalls,
    )
      .map(([name, n]) => `${name} ${n}`)
      .join(', ')}); cache hits ${summary.cacheHits}`,
    `latency of answered requests: p50 ${summary.latencyMs.p50} ms, p99 ${summary.latencyMs.p99} ms, max ${summary.latencyMs.max} ms`,
    `nginx error log: ${
      Object.keys(summary.nginxErrors).length === 0
        ? 'nothing'
        : Object.entries(summary.nginxErrors)
            .map(([what, n]) => `${what} × ${n}`)
            .join('; ')
    }`,
  ];
  return lines.join('\n');
}

export function renderFailures(details: FailureDetail[]): string {
  return details
    .map(
      (detail) =>
        `#${detail.index} ${detail.stream ? 'stream' : 'json'} ${detail.startedAt}–${detail.endedAt} ms via ${detail.replicas}: ${detail.cause} — ${detail.message}${detail.chunks ? ` after ${detail.chunks} chunks` : ''}${detail.during.length ? `\n    during: ${detail.during.join('; ')}` : ''}`,
    )
    .join('\n');
}
