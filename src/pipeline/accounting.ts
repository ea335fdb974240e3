import { noKey, type GatewayMetrics } from '../observability/metrics.ts';
import type { RequestLog } from '../observability/request-log.ts';
import type { GatewayRequest, RequestRecord } from './gateway-request.ts';

// As a request unwinds: one metric update and one log line, whatever happened.
// Done after the response has gone, and for all the responses sent in one
// turn of the event loop together (setImmediate runs once the I/O callbacks
// are done): when upstream answers arrive in a burst, each client gets its
// answer without waiting for the bookkeeping of the ones before it.

interface Pending {
  request: GatewayRequest | undefined;
  /** The caller's configured key name, known before the request is parsed (a key refused for its rate limit has one). */
  key: string | undefined;
  record: RequestRecord;
  id: string;
  latencyMs: number;
}

export class Accounting {
  private readonly metrics: GatewayMetrics;
  private readonly log: RequestLog;
  private pending: Pending[] = [];

  constructor(metrics: GatewayMetrics, log: RequestLog) {
    this.metrics = metrics;
    this.log = log;
  }

  account(request: GatewayRequest | undefined, record: RequestRecord, id: string, latencyMs: number, key?: string): void {
    if (this.pending.length === 0) setImmediate(() => this.flush());
    this.pending.push({ request, key, record, id, latencyMs });
  }

  /** Writes every request waiting to be accounted (setImmediate does it otherwise; a shutdown cannot wait). */
  flush(): void {
    const batch = this.pending;
    this.pending = [];
    for (const entry of batch) this.write(entry);
  }

  private write({ request, key: keyName, record, id, latencyMs }: Pending): void {
    const route = record.route ?? 'none';
    const provider = record.provider ?? 'none';
    const status = record.clientGone ? 499 : record.status;
    const key = keyName ?? request?.tenant ?? noKey;
    this.metrics.countRequest(route, provider, status, latencyMs / 1000, key);
    this.metrics.traffic.record(record, id);
    // Per provider, its own attempt's time: not the failed attempts before it (the log line and the console keep the client's wait).
    const providerFirstTokenMs = record.attemptFirstTokenMs ?? record.firstTokenMs;
    if (providerFirstTokenMs !== undefined && record.provider) this.metrics.observeFirstToken(route, provider, providerFirstTokenMs / 1000);
    if (record.usage && record.provider && record.model)
      this.metrics.countTokens(record.provider, record.model, record.usage.inputTokens, record.usage.outputTokens, record.costUsd, key);
    this.log.write({
      id,
      route,
      provider,
      model: record.model,
      status,
      attempts: record.attempts,
      failures: record.failures,
      hedges: record.hedges,
      error: record.error,
      stream: request?.client.stream,
      cache: record.cache,
      latencyMs,
      firstTokenMs: record.firstTokenMs,
      tokensIn: record.usage?.inputTokens,
      tokensOut: record.usage?.outputTokens,
      costUsd: record.costUsd,
    });
  }
}
