import type { TrafficClass } from '../config/schema.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import type { ClientRequest, Usage } from '../providers/provider-spec.ts';

export type Priority = 'critical' | 'high' | 'normal' | 'low';

/** Most urgent first: a priority's index is its level in a provider's waiting line. */
export const priorities: readonly Priority[] = ['critical', 'high', 'normal', 'low'];
const levels = Object.fromEntries(priorities.map((priority, level) => [priority, level])) as Record<Priority, number>;

/**
 * The place in a provider's waiting line: by x-switchyard-priority, 0 first.
 * Batch traffic without a priority of its own waits behind everything else.
 */
export function waitingLevel(request: Pick<GatewayRequest, 'priority' | 'trafficClass'>): number {
  return request.trafficClass === 'batch' && request.priority === 'normal' ? levels.low : levels[request.priority];
}

/** One client request as the pipeline sees it, after ingress parsing. */
export interface GatewayRequest {
  id: string;
  /** performance.now() when the request arrived. */
  receivedAt: number;
  /** The request as the client sent it; through the Responses or Messages front door, in that API (see `translate`). */
  client: ClientRequest;
  /**
   * A front door's request as Chat Completions, for targets that do not speak
   * its API, or the 400 that says why it cannot be one: made when first asked
   * for (a route whose targets all speak the API never asks).
   */
  translate: (() => ClientRequest | GatewayError) | undefined;
  /** The body a target of `provider` that speaks the front door's API gets, when not `client` itself (a conversation spelled out). */
  nativeFor: ((provider: string) => ClientRequest) | undefined;
  model: string;
  priority: Priority;
  trafficClass: TrafficClass;
  sensitive: boolean;
  /** The caller's own deadline in ms from arrival (x-switchyard-timeout), if any. */
  timeoutMs: number | undefined;
  /** x-switchyard-cache: no-cache skips the lookup (the answer is still kept), no-store skips both. */
  cacheMode: CacheMode;
  /** The name of the caller's key when auth keys are configured: cached answers are kept per tenant. */
  tenant: string | undefined;
}

export type CacheMode = 'default' | 'no-cache' | 'no-store';

/** The request in Chat Completions terms (a front door's translation), or undefined when it has none. */
export function chatRequest(request: GatewayRequest): ClientRequest | undefined {
  if (request.translate === undefined) return request.client.operation === 'chat' ? request.client : undefined;
  const translated = request.translate();
  return translated instanceof GatewayError ? undefined : translated;
}

/** What happened to a request: filled in as it walks the pipeline, read by headers, logs and metrics. */
export interface RequestRecord {
  route: string | undefined;
  provider: string | undefined;
  model: string | undefined;
  attempts: number;
  status: number;
  usage: Usage | undefined;
  /** What the usage cost at the serving provider's configured price, in USD. */
  costUsd: number | undefined;
  firstTokenMs: number | undefined;
  /** Codes of the failed attempts, in order, for the log line. */
  failures: string[];
  /** The failed attempts with their provider, in order: where a failover moved from, for the console. */
  failedAttempts: { provider: string; code: string }[];
  /** What started each hedge of the request, in order: `after` (hedge.after passed) or `hold` (a target held). */
  hedges: ('after' | 'hold')[];
  /** Providers that held the request (a busy hold) and lost the race to a hedge, for the console's failovers. */
  heldAttempts: string[];
  /** The serving attempt's own time to its first token (from its start, not the request's arrival). */
  attemptFirstTokenMs: number | undefined;
  /** The client went away before the response finished. */
  clientGone: boolean;
  /** x-switchyard-cache of the answer, on routes with a cache. */
  cache: 'hit' | 'stale' | 'miss' | 'bypass' | undefined;
  /** The provider and model the answer's headers name, made safe for a header (see header-value.ts). */
  served: { readonly provider: string; readonly model: string } | undefined;
  /** 'whole' once the answer went out complete (a stream through [DONE]): only such an answer is cached. */
  delivered: 'whole' | undefined;
  /** The error code the client was answered with, when it was an error. */
  error: string | undefined;
}

export function newRecord(): RequestRecord {
  return {
    route: undefined,
    provider: undefined,
    model: undefined,
    attempts: 0,
    status: 0,
    usage: undefined,
    costUsd: undefined,
    firstTokenMs: undefined,
    failures: [],
    failedAttempts: [],
    hedges: [],
    heldAttempts: [],
    attemptFirstTokenMs: undefined,
    clientGone: false,
    cache: undefined,
    served: undefined,
    delivered: undefined,
    error: undefined,
  };
}
