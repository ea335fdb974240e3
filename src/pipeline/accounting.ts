import type { Logger } from '../observability/logger.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { GatewayRequest, RequestRecord } from './gateway-request.ts';

// As a request unwinds: one metric update and one log line, whatever happened.

export function accountRequest(metrics: GatewayMetrics, logger: Logger, request: GatewayRequest | undefined, record: RequestRecord, id: string, receivedAt: number): void {
  const seconds = (performance.now() - receivedAt) / 1000;
  const route = record.route ?? 'none';
  const provider = record.provider ?? 'none';
  const status = record.clientGone ? 499 : record.status;
  metrics.countRequest(route, provider, status, seconds);
  if (record.firstTokenMs !== undefined && record.provider) metrics.observeFirstToken(route, provider, record.firstTokenMs / 1000);
  if (record.usage && record.provider && record.model) metrics.countTokens(record.provider, record.model, record.usage.inputTokens, record.usage.outputTokens);
  if (!logger.isLevelEnabled('info')) return;
  logger.info(
    {
      id,
      route,
      provider,
      model: record.model,
      status,
      attempts: record.attempts,
      failures: record.failures.length > 0 ? record.failures : undefined,
      stream: request?.client.stream,
      latency_ms: Math.round(seconds * 1000 * 10) / 10,
      first_token_ms: record.firstTokenMs === undefined ? undefined : Math.round(record.firstTokenMs * 10) / 10,
      tokens_in: record.usage?.inputTokens,
      tokens_out: record.usage?.outputTokens,
    },
    'request',
  );
}
