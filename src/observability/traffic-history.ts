// A few minutes of what the gateway did, second by second, for the console
// (/dashboard): requests, errors by status, time to first token, cache
// lookups, which target served each route, which provider failed and how,
// in-flight and waiting requests, and the recent requests that failed over.
// Fed once per finished request (accounting.ts) and once a second with the
// gauges; read only when the console asks. Everything is a fixed ring, so an
// idle console or a busy day costs the same memory. Prometheus keeps the long history.

/** What the history reads of a finished request (the pipeline's RequestRecord has all of it). */
export interface FinishedRequest {
  route: string | undefined;
  provider: string | undefined;
  status: number;
  clientGone: boolean;
  firstTokenMs: number | undefined;
  cache: 'hit' | 'stale' | 'miss' | 'bypass' | undefined;
  failedAttempts: readonly { provider: string; code: string }[];
}

export interface Failover {
  at: number;
  id: string;
  route: string;
  /** The attempts that failed, in order. */
  from: { provider: string; code: string }[];
  /** The provider that answered (`cache` for a kept answer), or undefined when none did. */
  to: string | undefined;
  status: number;
}

export interface Series {
  /** Unix seconds of each point, oldest first: whole seconds only, so a point never changes once sent. */
  t: number[];
  requests: number[];
  /** Requests answered with each error status (4xx, 5xx; 499 when the client left), one array per status. */
  errors: Record<string, number[]>;
  ttftP50: (number | null)[];
  ttftP95: (number | null)[];
  inFlight: number[];
  queued: number[];
}

export interface WindowTotals {
  requests: number;
  /** Requests served per route and provider: route → provider → count. */
  served: Record<string, Record<string, number>>;
  /** Failed attempts per provider and code: provider → code → count. */
  failed: Record<string, Record<string, number>>;
  cacheHits: number;
  cacheLookups: number;
}

const historySeconds = 300;
const failoversKept = 10;
// Time to first token in log-spaced bins, four per doubling from 1 ms: ±9% is plenty for a chart, and a bin is one increment.
const binsPerDoubling = 4;
const binCount = 4 * 18; // up to 2^18 ms, about 4 minutes

function binOf(ms: number): number {
  return Math.min(binCount - 1, Math.max(0, Math.floor(Math.log2(Math.max(ms, 1)) * binsPerDoubling)));
}

/** The middle of a bin, in ms. */
function binValue(bin: number): number {
  return Math.round(2 ** ((bin + 0.5) / binsPerDoubling));
}

class Second {
  at = -1;
  requests = 0;
  errors = new Map<number, number>();
  firstTokens = new Uint32Array(binCount);
  firstTokenCount = 0;
  cacheHits = 0;
  cacheLookups = 0;
  inFlight = 0;
  queued = 0;
  /** `route \0 provider` → requests served. */
  served = new Map<string, number>();
  /** `provider \0 code` → failed attempts. */
  failed = new Map<string, number>();

  reset(at: number): void {
    this.at = at;
    this.requests = this.cacheHits = this.cacheLookups = this.inFlight = this.queued = this.firstTokenCount = 0;
    this.errors.clear();
    this.firstTokens.fill(0);
    this.served.clear();
    this.failed.clear();
  }

  percentile(fraction: number): number | null {
    if (this.firstTokenCount === 0) return null;
    const wanted = Math.ceil(this.firstTokenCount * fraction);
    let seen = 0;
    for (let bin = 0; bin < binCount; bin += 1) {
      seen += this.firstTokens[bin]!;
      if (seen >= wanted) return binValue(bin);
    }
    return null;
  }
}

function increment<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

export class TrafficHistory {
  private readonly seconds = Array.from({ length: historySeconds }, () => new Second());
  private readonly failovers: Failover[] = [];
  private readonly now: () => number;
  /** No history before this second: the process was not running. */
  private readonly startedAt: number;

  constructor(now: () => number = Date.now) {
    this.now = now;
    this.startedAt = Math.floor(now() / 1000);
  }

  private current(): Second {
    const at = Math.floor(this.now() / 1000);
    const second = this.seconds[at % historySeconds]!;
    if (second.at !== at) second.reset(at);
    return second;
  }

  record(request: FinishedRequest, id: string): void {
    const second = this.current();
    const status = request.clientGone ? 499 : request.status;
    second.requests += 1;
    if (status >= 400) increment(second.errors, status);
    if (request.firstTokenMs !== undefined && request.provider !== 'cache') {
      second.firstTokens[binOf(request.firstTokenMs)]! += 1;
      second.firstTokenCount += 1;
    }
    if (request.cache === 'hit' || request.cache === 'stale' || request.cache === 'miss') {
      second.cacheLookups += 1;
      if (request.cache === 'hit') second.cacheHits += 1;
    }
    if (request.route !== undefined && request.provider !== undefined) increment(second.served, `${request.route}\0${request.provider}`);
    for (const attempt of request.failedAttempts) increment(second.failed, `${attempt.provider}\0${attempt.code}`);
    if (request.failedAttempts.length > 0 && request.route !== undefined) {
      if (this.failovers.length === failoversKept) this.failovers.shift();
      this.failovers.push({ at: this.now(), id, route: request.route, from: request.failedAttempts.map((attempt) => ({ ...attempt })), to: request.provider, status });
    }
  }

  /** The gauges, once a second: requests in flight and waiting for a place, the highest seen in the second. */
  sample(inFlight: number, queued: number): void {
    const second = this.current();
    second.inFlight = Math.max(second.inFlight, inFlight);
    second.queued = Math.max(second.queued, queued);
  }

  /** Whole seconds after `since` (Unix seconds; 0 for all that is kept), oldest first. */
  series(since: number): Series {
    const last = Math.floor(this.now() / 1000) - 1;
    const first = Math.max(since + 1, last - historySeconds + 2, this.startedAt);
    const series: Series = { t: [], requests: [], errors: {}, ttftP50: [], ttftP95: [], inFlight: [], queued: [] };
    const kept: Second[] = [];
    for (let at = first; at <= last; at += 1) {
      const second = this.seconds[at % historySeconds]!;
      kept.push(second.at === at ? second : new Second());
      for (const status of second.at === at ? second.errors.keys() : []) series.errors[status] ??= [];
    }
    kept.forEach((second, index) => {
      series.t.push(first + index);
      series.requests.push(second.requests);
      for (const [status, counts] of Object.entries(series.errors)) counts.push(second.errors.get(Number(status)) ?? 0);
      series.ttftP50.push(second.percentile(0.5));
      series.ttftP95.push(second.percentile(0.95));
      series.inFlight.push(second.inFlight);
      series.queued.push(second.queued);
    });
    return series;
  }

  /** Totals over the last `seconds` seconds, the current one included. */
  window(seconds: number): WindowTotals {
    const now = Math.floor(this.now() / 1000);
    const totals: WindowTotals = { requests: 0, served: {}, failed: {}, cacheHits: 0, cacheLookups: 0 };
    const nested = (into: Record<string, Record<string, number>>, key: string, count: number) => {
      const [outer, inner] = key.split('\0') as [string, string];
      const row = (into[outer] ??= {});
      row[inner] = (row[inner] ?? 0) + count;
    };
    for (const second of this.seconds) {
      if (second.at <= now - seconds || second.at > now) continue;
      totals.requests += second.requests;
      totals.cacheHits += second.cacheHits;
      totals.cacheLookups += second.cacheLookups;
      for (const [key, count] of second.served) nested(totals.served, key, count);
      for (const [key, count] of second.failed) nested(totals.failed, key, count);
    }
    return totals;
  }

  /** The most recent requests that failed over or retried, newest first. */
  recentFailovers(): Failover[] {
    return [...this.failovers].reverse();
  }
}
