import type { Clock } from '../resilience/clock.ts';
import type { Route, RouteTable, Target } from './route-table.ts';

// Canary targets (`routes.NAME.targets[].canary`): a new model or deployment
// takes `share` of its route's traffic, and is compared with the rest of the
// route over the same window. Once it has `min_requests` there, an error rate
// over `max_error_rate` (and over the others'), or a median time to first
// token over `max_ttft_ratio` times theirs, rolls it back: it gets no traffic
// until an operator acts (a config change, or the admin API: resume, rollback,
// promote). Its failed requests fail over to the route's other targets, so
// clients never see them. A window that passes starts the next one. State is
// kept by route and target across reloads while the canary's settings stay
// the same.

export type CanaryState = 'running' | 'rolled_back' | 'promoted';
export type CanaryAction = 'resume' | 'rollback' | 'promote';

/** Who decided a change: this replica's own comparison, an operator, or another replica (through state.redis). */
export type CanaryOrigin = 'judged' | 'operator' | 'replica';

export interface CanaryEvents {
  /** The state changed: `why` says what decided it, in words and figures. */
  changed?(change: {
    route: string;
    target: string;
    state: CanaryState;
    why: string;
    figures: Record<string, number | null>;
    origin: CanaryOrigin;
    settings: string;
  }): void;
}

interface Tally {
  ok: number;
  failed: number;
  firstTokens: number[];
}

interface Canary {
  route: string;
  target: string;
  settings: string;
  share: number;
  minRequests: number;
  maxErrorRate: number;
  maxTtftRatio: number;
  state: CanaryState;
  canary: Tally;
  others: Tally;
  windowStartedAt: number;
}

/** First-token samples kept per side of a window: enough for a median, bounded in memory. */
const maxSamples = 1000;

const emptyTally = (): Tally => ({ ok: 0, failed: 0, firstTokens: [] });

export class Canaries {
  private readonly clock: Clock;
  private readonly events: CanaryEvents;
  /** By `route` + NUL + target key. */
  private readonly canaries = new Map<string, Canary>();
  /** Routes that have a canary: only their outcomes are tallied. */
  private readonly routes = new Map<string, Canary[]>();

  constructor(options: { clock: Clock; events?: CanaryEvents }) {
    this.clock = options.clock;
    this.events = options.events ?? {};
  }

  /** Follows a config: new canaries start running; one whose settings changed starts again; one left out is forgotten. */
  sync(table: RouteTable): void {
    const seen = new Set<string>();
    this.routes.clear();
    for (const route of table.routes.values()) {
      for (const target of route.targets) {
        const settings = target.config.canary;
        if (!settings) continue;
        const id = idOf(route.name, target.key);
        seen.add(id);
        const signature = JSON.stringify(settings);
        let canary = this.canaries.get(id);
        if (!canary || canary.settings !== signature) {
          canary = {
            route: route.name,
            target: target.key,
            settings: signature,
            share: settings.share,
            minRequests: settings.min_requests,
            maxErrorRate: settings.max_error_rate,
            maxTtftRatio: settings.max_ttft_ratio,
            state: 'running',
            canary: emptyTally(),
            others: emptyTally(),
            windowStartedAt: this.clock.now(),
          };
          this.canaries.set(id, canary);
        }
        this.routes.set(route.name, [...(this.routes.get(route.name) ?? []), canary]);
      }
    }
    for (const id of [...this.canaries.keys()]) if (!seen.has(id)) this.canaries.delete(id);
  }

  /**
   * The route's candidates for one request: a running canary goes first for
   * `share` of requests (the others follow, for failover) and is left out of
   * the rest; a rolled-back one is left out; a promoted one is ordinary.
   */
  arrange(route: Route, ordered: Target[], draw: () => number): Target[] {
    const canaries = this.routes.get(route.name);
    if (!canaries) return ordered;
    let arranged = ordered;
    for (const canary of canaries) {
      if (canary.state === 'promoted') continue;
      const at = arranged.findIndex((target) => target.key === canary.target);
      if (at === -1) continue;
      const target = arranged[at]!;
      const others = arranged.filter((_, index) => index !== at);
      // A running canary that is all the route has left serves rather than leave nothing.
      if (canary.state === 'running' && (others.length === 0 || draw() < canary.share)) arranged = [target, ...others];
      else arranged = others;
    }
    return arranged;
  }

  /** One attempt's outcome on a route with a canary: tallied on the canary's side or the others', then judged. */
  record(route: string | undefined, target: Target, ok: boolean, firstTokenMs?: number): void {
    if (route === undefined) return;
    const canaries = this.routes.get(route);
    if (!canaries) return;
    for (const canary of canaries) {
      if (canary.state !== 'running') continue;
      const tally = target.key === canary.target ? canary.canary : canary.others;
      if (ok) tally.ok += 1;
      else tally.failed += 1;
      if (ok && firstTokenMs !== undefined && tally.firstTokens.length < maxSamples) tally.firstTokens.push(firstTokenMs);
      if (tally === canary.canary) this.judge(canary);
    }
  }

  /**
   * The target was ejected by outlier detection (failures in a row): a running
   * canary on it is rolled back at once, on every route; it would otherwise
   * sit out its ejections and reach `min_requests` only minutes later.
   */
  targetEjected(target: string): void {
    for (const canary of this.canaries.values()) {
      if (canary.target === target && canary.state === 'running')
        this.set(canary, 'rolled_back', 'its target was ejected after failures in a row (outlier detection)', {}, 'judged');
    }
  }

  /** An operator's decision (the admin API). False when the route has no such canary. */
  act(route: string, target: string, action: CanaryAction): boolean {
    const canary = this.canaries.get(idOf(route, target));
    if (!canary) return false;
    this.set(canary, stateAfter(action), `an operator chose ${action}`, {}, 'operator');
    return true;
  }

  /** A change another replica made (through state.redis): the same here, when the canary has the settings it was made for. */
  changedElsewhere(decision: { route: string; target: string; state: CanaryState; why: string; settings: string }): void {
    const canary = this.canaries.get(idOf(decision.route, decision.target));
    if (canary && canary.settings === decision.settings && canary.state !== decision.state)
      this.set(canary, decision.state, `another replica: ${decision.why}`, {}, 'replica');
  }

  state(route: string, target: string): CanaryState | undefined {
    return this.canaries.get(idOf(route, target))?.state;
  }

  /** Every canary, for /admin/status and the metric. */
  snapshot(): { route: string; target: string; state: CanaryState; share: number; window: { canary: TallyFigures; others: TallyFigures } }[] {
    return [...this.canaries.values()].map((canary) => ({
      route: canary.route,
      target: canary.target,
      state: canary.state,
      share: canary.share,
      window: { canary: figures(canary.canary), others: figures(canary.others) },
    }));
  }

  private judge(canary: Canary): void {
    const total = canary.canary.ok + canary.canary.failed;
    if (total < canary.minRequests) return;
    const mine = figures(canary.canary);
    const theirs = figures(canary.others);
    const numbers = {
      canary_requests: total,
      canary_error_rate: mine.error_rate,
      others_error_rate: theirs.error_rate,
      canary_ttft_p50_ms: mine.ttft_p50_ms,
      others_ttft_p50_ms: theirs.ttft_p50_ms,
    };
    if (mine.error_rate !== null && mine.error_rate > canary.maxErrorRate && mine.error_rate > (theirs.error_rate ?? 0)) {
      this.set(
        canary,
        'rolled_back',
        `error rate ${percent(mine.error_rate)} over ${total} requests, above max_error_rate ${percent(canary.maxErrorRate)} and the other targets' ${percent(theirs.error_rate ?? 0)}`,
        numbers,
        'judged',
      );
      return;
    }
    if (mine.ttft_p50_ms !== null && theirs.ttft_p50_ms !== null && mine.ttft_p50_ms > canary.maxTtftRatio * theirs.ttft_p50_ms) {
      this.set(
        canary,
        'rolled_back',
        `median time to first token ${Math.round(mine.ttft_p50_ms)} ms, over ${canary.maxTtftRatio}× the other targets' ${Math.round(theirs.ttft_p50_ms)} ms`,
        numbers,
        'judged',
      );
      return;
    }
    // Passed: the next window starts.
    canary.canary = emptyTally();
    canary.others = emptyTally();
    canary.windowStartedAt = this.clock.now();
  }

  private set(canary: Canary, state: CanaryState, why: string, numbers: Record<string, number | null>, origin: CanaryOrigin): void {
    const changed = canary.state !== state;
    canary.state = state;
    canary.canary = emptyTally();
    canary.others = emptyTally();
    canary.windowStartedAt = this.clock.now();
    if (changed) this.events.changed?.({ route: canary.route, target: canary.target, state, why, figures: numbers, origin, settings: canary.settings });
  }
}

interface TallyFigures {
  requests: number;
  error_rate: number | null;
  ttft_p50_ms: number | null;
}

function figures(tally: Tally): TallyFigures {
  const requests = tally.ok + tally.failed;
  return { requests, error_rate: requests === 0 ? null : tally.failed / requests, ttft_p50_ms: median(tally.firstTokens) };
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function percent(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}

function stateAfter(action: CanaryAction): CanaryState {
  return action === 'resume' ? 'running' : action === 'rollback' ? 'rolled_back' : 'promoted';
}

function idOf(route: string, target: string): string {
  return `${route}\u0000${target}`;
}
