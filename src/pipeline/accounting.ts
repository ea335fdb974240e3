import type { GatewayMetrics } from '../observability/metrics.ts';
import type { RequestLog } from '../observability/request-log.ts';
import type { GatewayRequest, RequestRecord } from './gateway-request.ts';

// As a request unwinds: one metric update and one log line, whatever happened.

export function accountRequest(metrics: GatewayMetrics, log: RequestLog, request: GatewayRequest | undefined, record: RequestRecord, id: string, receivedAt: number): void {
  const latencyMs = performance.now() - receivedAt;
  const route = record.route ?? 'none';
  const provider = record.provider ?? 'none';
  const status = record.clientGone ? 499 : record.status;
  metrics.countRequest(route, provider, status, latencyMs / 1000);
  if (record.firstTokenMs !== undefined && record.provider) metrics.observeFirstToken(route, provider, record.firstTokenMs / 1000);
  if (record.usage && record.provider && record.model) metrics.countTokens(record.provider, record.model, record.usage.inputTokens, record.usage.outputTokens);
  log.write({
    id,
    route,
    provider,
    model: record.model,
    status,
    attempts: record.attempts,
    failures: record.failures,
    stream: request?.client.stream,
    latencyMs,
    firstTokenMs: record.firstTokenMs,
    tokensIn: record.usage?.inputTokens,
    tokensOut: record.usage?.outputTokens,
  });
}
