import { errorCodes, type ErrorCode } from '../errors/error-codes.ts';

// A provider's state for the console, in words and a severity the page turns
// into a colour: what a person needs to see at a glance, without reading
// numbers. Each check below looks at one thing (/admin/status's view of the
// provider and its targets, and the last minute of traffic); every condition
// that holds is listed, the worst first. Canary and anomaly states, once they
// exist, are one more check each in `checks`.

export type Severity = 'ok' | 'warn' | 'down';

export interface Condition {
  /** A short name for the badge: healthy, open, half-open, unhealthy, ejected, cooling, rate-limited, failing. */
  state: string;
  severity: Severity;
  /** What is happening, in words. */
  reason: string;
}

/** The parts of /admin/status this reads, for one provider. */
export interface ProviderView {
  healthy: boolean;
  last_health_error: string | null;
  rate_limit: { requests_per_second: number } | null;
  rate_limited_for_ms: number;
  circuit: { kind: 'closed' | 'open' | 'half-open'; reopenAt?: number; shared?: boolean; window: { successes: number; failures: number } };
}

export interface TargetView {
  provider: string;
  model: string;
  outlier: { ejected: boolean; ejections: number } | null;
  cooling_down_ms: number;
  cooling_reason?: string | undefined;
}

export interface ProviderFacts {
  provider: ProviderView;
  /** This provider's targets, on every route. */
  targets: TargetView[];
  /** Failed attempts on this provider in the last minute, by error code. */
  failedLastMinute: Record<string, number>;
  /** Requests it served in the last minute. */
  servedLastMinute: number;
  /** performance.now(), to turn the breaker's reopening time into seconds from now. */
  now: number;
}

const seconds = (ms: number) => (ms >= 90_000 ? `${Math.round(ms / 60_000)} min` : `${Math.max(1, Math.round(ms / 1000))} s`);

const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1);

/** An error code in a few words: the error table's own description. */
export function describeCode(code: string): string {
  return errorCodes[code as ErrorCode]?.description.replace(/\.$/, '') ?? code;
}

const checks: ((facts: ProviderFacts) => Condition | undefined)[] = [
  ({ provider, now }) => {
    const circuit = provider.circuit;
    if (circuit.kind !== 'open') return undefined;
    const { failures, successes } = circuit.window;
    const why = circuit.shared ? 'opened by another replica' : `${failures} of ${failures + successes} recent requests failed`;
    return {
      state: 'open',
      severity: 'down',
      reason: `circuit breaker open (${why}): no requests sent while another target can serve (else a throttled share, panic routing); one probe in ${seconds((circuit.reopenAt ?? now) - now)}`,
    };
  },
  ({ provider }) =>
    provider.healthy
      ? undefined
      : { state: 'unhealthy', severity: 'down', reason: `failing its health checks${provider.last_health_error ? `: ${provider.last_health_error}` : ''}` },
  ({ targets }) => {
    const cooling = targets.filter((target) => target.cooling_down_ms > 0);
    if (cooling.length === 0) return undefined;
    const longest = Math.max(...cooling.map((target) => target.cooling_down_ms));
    const code = cooling[0]!.cooling_reason;
    return {
      state: 'cooling',
      severity: 'down',
      reason: `left out for ${seconds(longest)}: ${code ? lowerFirst(describeCode(code)) : 'it refused our key, balance or model'}`,
    };
  },
  ({ targets }) => {
    const ejected = targets.filter((target) => target.outlier?.ejected);
    if (ejected.length === 0) return undefined;
    return {
      state: 'ejected',
      severity: 'down',
      reason: `ejected from live traffic after failures in a row (ejection ${Math.max(...ejected.map((target) => target.outlier!.ejections))})`,
    };
  },
  ({ provider }) =>
    provider.circuit.kind === 'half-open'
      ? { state: 'half-open', severity: 'warn', reason: 'circuit breaker half-open: one probe request decides whether it closes' }
      : undefined,
  ({ provider, failedLastMinute }) => {
    const refused = failedLastMinute.upstream_rate_limited ?? 0;
    if (provider.rate_limited_for_ms > 0)
      return {
        state: 'rate-limited',
        severity: 'warn',
        reason: `at its rate_limit (${provider.rate_limit?.requests_per_second}/s): requests go to other targets until a place frees`,
      };
    if (refused > 0)
      return {
        state: 'rate-limited',
        severity: 'warn',
        reason: `the provider answered 429 (rate limited) ${refused} time${refused === 1 ? '' : 's'} in the last minute`,
      };
    return undefined;
  },
  ({ failedLastMinute, servedLastMinute }) => {
    const entries = Object.entries(failedLastMinute).sort((a, b) => b[1] - a[1]);
    const failed = entries.reduce((sum, [, count]) => sum + count, 0);
    if (failed === 0) return undefined;
    const codes = entries
      .slice(0, 2)
      .map(([code, count]) => `${lowerFirst(describeCode(code))} ×${count}`)
      .join(', ');
    const attempts = failed + servedLastMinute;
    // An occasional failure, moved on at once, is what a gateway is for: amber from one attempt in ten.
    const severity = failed / attempts >= failingShare ? 'warn' : 'ok';
    return {
      state: severity === 'warn' ? 'failing' : 'healthy',
      severity,
      reason: `${failed} of ${attempts} attempts failed in the last minute (${codes}); the gateway moved them on`,
    };
  },
];

const failingShare = 0.1;
const order: Record<Severity, number> = { down: 0, warn: 1, ok: 2 };

/** Every condition that holds, worst first; `healthy` when none does. */
export function providerConditions(facts: ProviderFacts): Condition[] {
  const found = checks.map((check) => check(facts)).filter((condition): condition is Condition => condition !== undefined);
  if (found.length === 0)
    return [
      {
        state: 'healthy',
        severity: 'ok',
        reason:
          facts.servedLastMinute > 0
            ? `serving: ${facts.servedLastMinute} request${facts.servedLastMinute === 1 ? '' : 's'} in the last minute, none failed`
            : 'healthy, closed circuit; no traffic in the last minute',
      },
    ];
  return found.sort((a, b) => order[a.severity] - order[b.severity]);
}
