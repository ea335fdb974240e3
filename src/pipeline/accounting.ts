import { noKey, type GatewayMetrics } from '../observability/metrics.ts';
import type { RequestLog } from '../observability/request-log.ts';
import type { GatewayRequest, RequestRecord } from './gateway-request.ts';

// As a request unwinds: one metric update and one log line, whatever happened.
// Done after the response has gone, and for all the responses sent in one
// turn of the event loop together (setImmediate runs once the I/O callbacks
// are done): when upstream answers arrive in a burst, each client gets its
// answer without waiting for the bookkeeping of the ones before it.

interface Pending {
  metrics: GatewayMetrics;
  log: RequestLog;
  request: GatewayRequest | undefined;
  record: RequestRecord;
  id: string;
  latencyMs: number;
}

let pending: Pending[] = [];

export function accountRequest(metrics: GatewayMetrics, log: RequestLog, request: GatewayRequest | undefined, record: RequestRecord, id: string, receivedAt: number): void {
  if (pending.length === 0) setImmediate(accountPending);
  pending.push({ metrics, log, request, record, id, latencyMs: performance.now() - receivedAt });
}

function accountPending(): void {
  const batch = pending;
  pending = [];
  for (const entry of batch) account(entry);
}

function account({ metrics, log, request, record, id, latencyMs }: Pending): void {
  const route = record.route ?? 'none';
  const provider = record.provider ?? 'none';
  const status = record.clientGone ? 499 : record.status;
  const key = request?.tenant ?? noKey;
  metrics.countRequest(route, provider, status, latencyMs / 1000, key);
  if (record.firstTokenMs !== undefined && record.provider) metrics.observeFirstToken(route, provider, record.firstTokenMs / 1000);
  if (record.usage && record.provider && record.model) metrics.countTokens(record.provider, record.model, record.usage.inputTokens, record.usage.outputTokens, record.costUsd, key);
  log.write({
    id,
    route,
    provider,
    model: record.model,
    status,
    attempts: record.attempts,
    failures: record.failures,
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
