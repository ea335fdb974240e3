import { cacheKey, type ResponseCache } from '../cache/response-cache.ts';
import type { Route } from '../routing/route-table.ts';
import type { ClientChannel } from './client-channel.ts';
import type { GatewayRequest, RequestRecord } from './gateway-request.ts';

// The cache stage, for routes with `cache: { ttl }`: a non-stream request is
// answered from the cache when it can be, else it carries a plan to keep the
// answer the providers give. Streams, `x-switchyard-cache: no-store` and
// sensitive requests (their answers stay off the shared Redis) pass by.

export interface CachePlan {
  cache: ResponseCache;
  key: string;
  ttlMs: number;
}

/** 'answered' when the client got a cached answer; a plan to keep the answer; undefined when the cache stays out of it. */
export async function consultCache(cache: ResponseCache, route: Route, request: GatewayRequest, channel: ClientChannel, record: RequestRecord): Promise<'answered' | CachePlan | undefined> {
  const ttlMs = route.config.cache!.ttl;
  if (request.client.stream || request.cacheMode === 'no-store' || request.sensitive) {
    record.cache = 'bypass';
    return undefined;
  }
  const key = cacheKey(route.name, request.client.operation, request.tenant, request.client.raw);
  const plan = { cache, key, ttlMs };
  record.cache = 'miss';
  if (request.cacheMode === 'no-cache') return plan;
  const found = await cache.lookup(key);
  if (!found) return plan;
  const { answer } = found;
  record.cache = 'hit';
  record.provider = 'cache';
  record.model = answer.model;
  record.status = 200;
  channel.sendJson(
    200,
    {
      'x-request-id': request.id,
      'x-switchyard-provider': answer.provider,
      'x-switchyard-model': answer.model,
      'x-switchyard-attempts': '0',
      'x-switchyard-cache': 'hit',
      age: String(Math.max(0, Math.floor((Date.now() - answer.storedAt) / 1000))),
    },
    answer.body,
  );
  return 'answered';
}
