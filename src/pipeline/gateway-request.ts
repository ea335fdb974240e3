import type { TrafficClass } from '../config/schema.ts';
import type { ClientRequest, Usage } from '../providers/provider-spec.ts';

export type Priority = 'critical' | 'high' | 'normal' | 'low';

/** One client request as the pipeline sees it, after ingress parsing. */
export interface GatewayRequest {
  id: string;
  /** performance.now() when the request arrived. */
  receivedAt: number;
  client: ClientRequest;
  model: string;
  priority: Priority;
  trafficClass: TrafficClass;
  sensitive: boolean;
  /** The caller's own deadline in ms from arrival (x-switchyard-timeout), if any. */
  timeoutMs: number | undefined;
}

/** What happened to a request: filled in as it walks the pipeline, read by headers, logs and metrics. */
export interface RequestRecord {
  route: string | undefined;
  provider: string | undefined;
  model: string | undefined;
  attempts: number;
  status: number;
  usage: Usage | undefined;
  firstTokenMs: number | undefined;
  /** Codes of the failed attempts, in order, for the log line. */
  failures: string[];
  /** The client went away before the response finished. */
  clientGone: boolean;
}

export function newRecord(): RequestRecord {
  return { route: undefined, provider: undefined, model: undefined, attempts: 0, status: 0, usage: undefined, firstTokenMs: undefined, failures: [], clientGone: false };
}
