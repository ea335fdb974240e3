import { headerValue } from '../config/header-value.ts';
import type { RequestContext } from './request-context.ts';

// Every answer's Switchyard headers, built here and nowhere else: a served
// answer, a cached one and an error carry the same set.

export function responseHeaders(c: RequestContext): Record<string, string> {
  const { record } = c;
  const headers: Record<string, string> = {
    'x-request-id': c.id,
    'x-switchyard-provider': record.served?.provider ?? 'none',
    'x-switchyard-model': record.served?.model ?? headerValue(c.request?.model ?? 'none'),
    'x-switchyard-attempts': String(record.attempts),
  };
  if (record.cache !== undefined) headers['x-switchyard-cache'] = record.cache;
  return headers;
}
