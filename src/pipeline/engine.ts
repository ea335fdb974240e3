import type { ResponseCache } from '../cache/response-cache.ts';
import type { Config } from '../config/schema.ts';
import type { SecretRedactor } from '../errors/redact-secrets.ts';
import type { Logger } from '../observability/logger.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { Clock, RandomSource } from '../resilience/clock.ts';
import type { Canaries } from '../routing/canaries.ts';
import type { CandidateOrder } from '../routing/candidate-order.ts';
import type { RouteTable } from '../routing/route-table.ts';
import type { TargetStatus } from '../routing/target-status.ts';
import type { SharedRateLimits } from '../state/shared-rate-limits.ts';
import type { SpendLedger } from '../state/spend-ledger.ts';
import type { ProviderClient } from '../upstream/provider-client.ts';
import type { Accounting } from './accounting.ts';
import type { KeyLimits } from './key-limits.ts';

// Everything a request needs from its gateway, as one value: the parts built
// from one config (providers, routes, the cache) and the parts the gateway
// keeps across reloads (what it has learnt of each provider, limits, spend,
// metrics). A reload makes a new Engine and swaps it in one assignment; a
// request keeps the one it started with.

export interface Engine {
  readonly config: Config;
  readonly providers: ReadonlyMap<string, ProviderClient>;
  readonly routes: RouteTable;
  readonly candidates: CandidateOrder;
  /** Canary targets' share, judgement and state (kept across reloads). */
  readonly canaries: Canaries;
  readonly cache: ResponseCache;
  readonly status: TargetStatus;
  readonly metrics: GatewayMetrics;
  readonly spend: SpendLedger;
  readonly keyLimits: KeyLimits;
  /** Key rate limits shared through `state.redis`, when it is set. */
  readonly sharedLimits: SharedRateLimits | undefined;
  readonly accounting: Accounting;
  readonly redactor: SecretRedactor;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly random: RandomSource;
}
