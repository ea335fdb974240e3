import type { Config } from '../config/schema.ts';
import type { EventTimeline } from '../observability/event-timeline.ts';
import type { Logger } from '../observability/logger.ts';
import { noKey, type GatewayMetrics } from '../observability/metrics.ts';
import type { AnomalyChange, AnomalySignal } from '../resilience/provider-anomalies.ts';
import type { RouteTable } from '../routing/route-table.ts';
import type { TargetStatus } from '../routing/target-status.ts';

// The gateway's operator-facing signals that are not per request: anomaly log
// lines and gauges, and the series that must exist from config load.

const signals: readonly AnomalySignal[] = ['ttft', 'errors'];

export function logAnomaly(logger: Logger, timeline: EventTimeline, provider: string, change: AnomalyChange): void {
  const what = change.signal === 'ttft' ? 'time to first token' : 'failed-attempt share';
  const normal =
    change.baseline === undefined
      ? ''
      : change.signal === 'ttft'
        ? ` (normal ${Math.round(change.baseline)} ms)`
        : ` (normal ${(change.baseline * 100).toFixed(1)}%)`;
  const message = change.started
    ? `anomaly: ${provider} ${what} is well above its normal${normal}`
    : `anomaly over: ${provider} ${what} is back to normal${normal}`;
  const fields = { provider, signal: change.signal, anomaly: change.started ? 'started' : 'ended', baseline: change.baseline };
  if (change.started) logger.warn(fields, message);
  else logger.info(fields, message);
  timeline.add(provider, `${change.signal} anomaly ${change.started ? 'started' : 'ended'}`);
}

export function anomalyGauges(status: TargetStatus, providers: Iterable<string>): [string, AnomalySignal, boolean][] {
  const values: [string, AnomalySignal, boolean][] = [];
  for (const provider of providers) {
    const anomalies = status.anomaliesOf(provider);
    for (const signal of signals) values.push([provider, signal, anomalies?.isAnomalous(signal) ?? false]);
  }
  return values;
}

/** Every per-provider series at its starting value, and the counters dashboards divide at zero (issue 17 §4). */
export function startSeries(metrics: GatewayMetrics, status: TargetStatus, config: Config, routes: RouteTable): void {
  for (const provider of Object.keys(config.providers)) {
    metrics.setCircuitState(provider, status.provider(provider).breaker.state.kind);
    metrics.setHealthy(provider, status.provider(provider).health.healthy);
  }
  metrics.startSeries({
    routes: [...routes.routes.values()].map((route) => [route.name, [...new Set(route.targets.map((target) => target.provider.name))]]),
    providers: Object.keys(config.providers),
    caching: Object.values(config.routes).some((route) => route.cache !== undefined),
    keys: [noKey, ...(config.auth?.keys.map((key) => key.name) ?? [])],
  });
}
