import type { EventTimeline } from '../observability/event-timeline.ts';
import type { LoadReading } from '../observability/process-load.ts';
import type { Clock } from '../resilience/clock.ts';
import type { Route, RouteTable } from '../routing/route-table.ts';
import type { TargetStatus } from '../routing/target-status.ts';
import type { ProviderClient } from '../upstream/provider-client.ts';
import { explainCause, likelyCause, type Cause } from './incident-cause.ts';

// GET /admin/incidents: each provider or route in trouble now or in the last
// hour, since when, the evidence, the likely cause in plain words and what the
// gateway does about it. Built on demand from what the gateway already keeps
// (attempt outcomes by minute, breaker, health, anomalies, events), so it costs
// nothing until someone asks.

export interface Incident {
  subject: 'provider' | 'route' | 'gateway';
  name: string;
  ongoing: boolean;
  since: string;
  cause: Cause | 'no_target_available';
  summary: string;
  evidence: Record<string, unknown>;
  actions: string[];
}

export interface IncidentSources {
  providers: ReadonlyMap<string, ProviderClient>;
  routes: RouteTable;
  status: TargetStatus;
  timeline: EventTimeline;
  /** This process's recent load, oldest first (one reading per 10 s). */
  load: readonly LoadReading[];
  clock: Clock;
  /** Upstream and probe text may quote a configured secret: every message passes through this first. */
  redact(text: string): string;
}

/** Outcomes that say nothing about the provider's state: successes and the client's own mistakes. */
const notFailures = new Set(['ok', 'upstream_bad_request', 'upstream_context_length']);
const iso = (ms: number) => new Date(ms).toISOString();

/** Refusals that will not heal by themselves: one is enough to make a minute troubled. */
const refusals = new Set(['upstream_auth', 'upstream_payment', 'upstream_model_not_found']);

/** A minute is troubled when at least 3 attempts and 10% of them failed, or the provider refused our key, balance or model. */
function troubled(counts: ReadonlyMap<string, number>): boolean {
  let failed = 0;
  let total = 0;
  for (const [code, count] of counts) {
    total += count;
    if (refusals.has(code)) return true;
    if (!notFailures.has(code)) failed += count;
  }
  return failed >= 3 && failed / total >= 0.1;
}

export function buildIncidents(sources: IncidentSources): Incident[] {
  const incidents: Incident[] = [];
  const troubledProviders = new Set<string>();
  for (const provider of sources.providers.values()) {
    const incident = providerIncident(provider, sources);
    if (incident) {
      incidents.push(incident);
      troubledProviders.add(provider.name);
    }
  }
  for (const route of sources.routes.routes.values()) {
    const incident = routeIncident(route, sources, troubledProviders);
    if (incident) incidents.push(incident);
  }
  const gateway = gatewayIncident(sources);
  if (gateway) incidents.push(gateway);
  return incidents.sort((a, b) => Number(b.ongoing) - Number(a.ongoing) || a.since.localeCompare(b.since));
}

function providerIncident(provider: ProviderClient, sources: IncidentSources): Incident | undefined {
  const { status } = sources;
  const name = provider.name;
  const state = status.provider(name);
  const anomalies = status.anomaliesOf(name);
  const breaker = state.breaker.state;
  const recent = status.history.totals(name, 5, troubled);
  const hour = status.history.totals(name, 60, troubled);
  const events = sources.timeline.recent(name);
  const anomalous = anomalies?.isAnomalous('ttft') || anomalies?.isAnomalous('errors') || false;
  const ongoing = breaker.kind !== 'closed' || !state.health.healthy || anomalous || recent.total > 0;
  if (!ongoing && hour.total === 0 && events.length === 0) return undefined;

  const failures = new Map([...hour.counts].filter(([code]) => !notFailures.has(code)));
  const failed = [...failures.values()].reduce((sum, count) => sum + count, 0);
  const lastFailures = status.lastFailuresOf(name);
  const cause = likelyCause({
    codes: failures,
    connectCause: lastFailures.get('upstream_connect')?.cause,
    healthProblem: state.health.healthy ? undefined : state.health.lastError,
    ttftAnomaly: anomalies?.isAnomalous('ttft') ?? false,
  });
  const starts = [hour.first, events[0]?.at, anomalies?.periods.ttft?.since, anomalies?.periods.errors?.since].filter(
    (at): at is number => at !== undefined && at >= sources.clock.epochMs() - 3_600_000,
  );
  const lastMessage = (code: string) => {
    const message = lastFailures.get(code)?.message;
    return message === undefined ? null : sources.redact(message);
  };
  const codes = [...failures]
    .sort((a, b) => b[1] - a[1])
    .map(([code, count]) => ({ code, count, share: round(count / Math.max(1, hour.total)), last_message: lastMessage(code) }));
  return {
    subject: 'provider',
    name,
    ongoing,
    since: iso(starts.length > 0 ? Math.min(...starts) : sources.clock.epochMs()),
    cause,
    summary: explainCause(cause, name),
    evidence: {
      attempts: hour.total,
      failed_share: round(failed / Math.max(1, hour.total)),
      codes,
      circuit: breaker.kind,
      healthy: state.health.healthy,
      last_health_error: state.health.lastError === undefined ? null : sources.redact(state.health.lastError),
      anomalies: anomalies?.snapshot() ?? null,
      stalls: (failures.get('upstream_first_token_timeout') ?? 0) + (failures.get('upstream_stalled') ?? 0),
      rate_limited: failures.get('upstream_rate_limited') ?? 0,
      waiting: provider.gate.waiting,
      in_flight: provider.inFlight,
      events: events.map((event) => ({ at: iso(event.at), what: sources.redact(event.what) })),
    },
    actions: providerActions(provider, sources),
  };
}

function providerActions(provider: ProviderClient, sources: IncidentSources): string[] {
  const actions: string[] = [];
  const status = sources.status.provider(provider.name);
  const breaker = status.breaker.state;
  if (breaker.kind === 'open') {
    const share = Math.round(status.throttle.sendProbability() * 100);
    actions.push(
      `circuit open: nothing is sent to ${provider.name} while another target can serve, until ${iso(sources.clock.epochMs() + Math.max(0, breaker.reopenAt - sources.clock.now()))}, then one probe request; where no other target is left, panic routing sends it ${share}% of requests (its adaptive throttle)`,
    );
  }
  if (!sources.status.provider(provider.name).health.healthy) actions.push(`marked unhealthy by its health check: routes skip it until it passes again`);
  for (const route of sources.routes.routes.values()) {
    const mine = route.targets.filter((target) => target.provider.name === provider.name);
    if (mine.length === 0) continue;
    const others = route.targets.filter((target) => target.provider.name !== provider.name && sources.status.isAvailable(target));
    if (others.length > 0)
      actions.push(`route ${route.name}: failing over to ${others.map((target) => `${target.provider.name} (tier ${target.tier})`).join(', ')}`);
    else
      actions.push(
        `route ${route.name}: no other target is available; requests still try ${provider.name} with retries, and fail with 503 when it cannot answer`,
      );
  }
  return actions;
}

function routeIncident(route: Route, sources: IncidentSources, troubledProviders: ReadonlySet<string>): Incident | undefined {
  const available = route.targets.filter((target) => sources.status.isAvailable(target));
  const affected = [...new Set(route.targets.map((target) => target.provider.name).filter((name) => troubledProviders.has(name)))];
  const stale = sources.status.history.totals(`route:${route.name}`, 60);
  if (available.length > 0 && affected.length === 0 && stale.total === 0) return undefined;
  const actions: string[] = [];
  const sound = available.filter((target) => !troubledProviders.has(target.provider.name));
  const stillTried = available.filter((target) => troubledProviders.has(target.provider.name));
  if (affected.length > 0 && sound.length > 0)
    actions.push(
      `traffic goes to ${sound.map((target) => `${target.provider.name} (tier ${target.tier})`).join(', ')}${stillTried.length > 0 ? `; ${stillTried.map((target) => target.provider.name).join(', ')} still tried first, failing over at once` : ''}`,
    );
  if (available.length === 0)
    actions.push('no target is available: requests still try the least-bad target, and clients get 503 with Retry-After when it fails');
  if (stale.total > 0) actions.push(`${stale.total} request${stale.total === 1 ? '' : 's'} answered from cache (stale) in the last hour`);
  const none = available.length === 0;
  return {
    subject: 'route',
    name: route.name,
    ongoing: none || affected.length > 0,
    since: iso(stale.first ?? sources.clock.epochMs()),
    cause: none ? 'no_target_available' : 'unknown',
    summary: none
      ? `Route ${route.name} has no available target: every one is unhealthy, behind an open breaker, ejected or cooling down.`
      : `Route ${route.name} is affected by trouble at ${affected.join(', ') || 'its providers'}; it still has ${available.length} available target${available.length === 1 ? '' : 's'}.`,
    evidence: { targets: route.targets.length, available: available.length, troubled_providers: affected },
    actions,
  };
}

/** CPU over 85% of a core or an event-loop p99 over 100 ms for 30 s running (three readings): a blip is not an incident. */
const sustainedReadings = 3;
const busyReading = (reading: LoadReading) => reading.cpu > 0.85 || reading.eventLoopP99Ms > 100;

/** The gateway's own saturation: CPU, event loop, full waiting lines. */
function gatewayIncident(sources: IncidentSources): Incident | undefined {
  const recent = sources.load.slice(-sustainedReadings);
  const busy = recent.length === sustainedReadings && recent.every(busyReading);
  const cpu = Math.min(...recent.map((reading) => reading.cpu));
  const eventLoopP99Ms = Math.min(...recent.map((reading) => reading.eventLoopP99Ms));
  const fullLines = [...sources.providers.values()]
    .filter((provider) => provider.gate.waiting > 0 && provider.gate.waiting >= provider.gate.maxWaiting)
    .map((provider) => provider.name);
  const reasons: string[] = [];
  if (busy && cpu > 0.85) reasons.push(`CPU over ${Math.round(cpu * 100)}% of a core for 30 s`);
  if (busy && eventLoopP99Ms > 100) reasons.push(`event loop p99 delay over ${Math.round(eventLoopP99Ms)} ms for 30 s`);
  if (fullLines.length > 0) reasons.push(`waiting line full for ${fullLines.join(', ')}`);
  if (reasons.length === 0) return undefined;
  return {
    subject: 'gateway',
    name: 'switchyard',
    ongoing: true,
    since: iso(busy ? recent[0]!.at - 10_000 : sources.clock.epochMs()),
    cause: 'own_saturation',
    summary: `This gateway process is saturated (${reasons.join('; ')}): add replicas (the autoscaler does at 70% CPU) or raise max_concurrency / max_queue.`,
    evidence: {
      readings: recent.map((reading) => ({ at: iso(reading.at), cpu: round(reading.cpu), event_loop_p99_ms: Math.round(reading.eventLoopP99Ms) })),
      full_waiting_lines: fullLines,
    },
    actions: ['requests over the waiting lines are shed with 429, least urgent first'],
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
