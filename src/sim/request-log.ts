// What the simulator saw and did, so a test can assert "the upstream saw W"
// and a benchmark can count outcomes.

import type { IncomingHttpHeaders } from 'node:http';

export type SimOutcome =
  | 'ok'
  | 'busy'
  | 'rate_limited'
  | 'hold'
  | 'hang'
  | 'drop'
  | 'stall'
  | 'malformed'
  | 'raw'
  | 'models'
  | 'unauthorized'
  | 'bad_request'
  | 'not_found'
  | 'method_not_allowed';

export type SimStats = Record<SimOutcome, number> & { total: number };

export function createStats(): SimStats {
  return {
    total: 0,
    ok: 0,
    busy: 0,
    rate_limited: 0,
    hold: 0,
    hang: 0,
    drop: 0,
    stall: 0,
    malformed: 0,
    raw: 0,
    models: 0,
    unauthorized: 0,
    bad_request: 0,
    not_found: 0,
    method_not_allowed: 0,
  };
}

export interface RecordedRequest {
  method: string;
  /** The request target as sent, query string included. */
  path: string;
  /** Lower-case names, as Node parses them. */
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; undefined when there was none or it was not JSON. */
  body: unknown;
  receivedAt: number;
  /** How the simulator answered; undefined until it decided. */
  outcome: SimOutcome | undefined;
  /** The client closed the connection before the answer was complete. */
  aborted: boolean;
  abortedAt: number | undefined;
}

export const requestLogLimit = 100;

/** Appends to a list that keeps only the last `requestLogLimit` entries. */
export function remember(log: RecordedRequest[], record: RecordedRequest): void {
  log.push(record);
  if (log.length > requestLogLimit) log.shift();
}
