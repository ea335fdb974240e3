import type { TrafficClass } from '../config/schema.ts';
import type { Route, Target } from './route-table.ts';

// The order in which a request tries a route's targets: tier by tier, and
// within a tier by the route's balance strategy. Targets that cannot take this
// request (its class, its sensitivity) are left out; so are targets known to
// be down (unhealthy, ejected, breaker open, cooling down), unless every
// target is: then the route panics (Envoy's panic threshold) and offers all of
// them, least bad first, since a guess beats a certain 503. Each attempt's
// guard still decides whether it goes (an open breaker's provider gets what
// its adaptive throttle allows).

export interface CandidateFilter {
  trafficClass: TrafficClass;
  /** Only providers marked `private: true`. */
  privateOnly: boolean;
  /** The route is over its budget: the cheapest targets first, whatever their tier. */
  cheapestFirst?: boolean;
}

/** USD per 1,000 input + output tokens; a target without `price` counts as free (self-hosted, typically). */
function priceOf(target: Target): number {
  const price = target.provider.config.price;
  return price ? price.input_per_1k + price.output_per_1k : 0;
}

/** The seam where health checks, breakers and outlier detection say whether a target may be tried. */
export interface TargetAvailability {
  isAvailable(target: Target): boolean;
  /** In panic, lower is less bad. */
  panicRank?(target: Target): number;
  /** Recent time to first token, for least-latency; undefined when unknown. */
  latencyOf?(target: Target): number | undefined;
}

export const alwaysAvailable: TargetAvailability = { isAvailable: () => true };

export interface CandidateOrderOptions {
  availability?: TargetAvailability;
  random?: () => number;
}

export class CandidateOrder {
  private readonly availability: TargetAvailability;
  private readonly random: () => number;
  private readonly roundRobin = new Map<string, number>();

  constructor(options: CandidateOrderOptions = {}) {
    this.availability = options.availability ?? alwaysAvailable;
    this.random = options.random ?? Math.random;
  }

  /**
   * Every target the request may use, best first. `eligible` counts those the
   * request could use at all; `panic` says none was available, so all are offered.
   */
  candidates(route: Route, filter: CandidateFilter): { ordered: Target[]; eligible: number; panic: boolean } {
    const ordered: Target[] = [];
    const down: Target[] = [];
    for (const tier of route.tiers) {
      const usable: Target[] = [];
      for (const target of tier) {
        if (!target.classes.has(filter.trafficClass)) continue;
        if (filter.privateOnly && !target.provider.config.private) continue;
        if (this.availability.isAvailable(target)) usable.push(target);
        else down.push(target);
      }
      if (usable.length > 1) this.balance(route, tier[0]!.tier, usable);
      for (const target of usable) ordered.push(target);
    }
    const panic = ordered.length === 0 && down.length > 0;
    const chosen = panic ? this.leastBadFirst(down) : ordered;
    // A stable sort: among equal prices, tier and balance order stand.
    if (filter.cheapestFirst) chosen.sort((a, b) => priceOf(a) - priceOf(b));
    return { ordered: chosen, eligible: ordered.length + down.length, panic };
  }

  /** Panic: every target, the least bad first (a stable sort keeps tier order among equals). */
  private leastBadFirst(targets: Target[]): Target[] {
    const rank = this.availability.panicRank;
    if (!rank || targets.length < 2) return targets;
    const ranks = new Map(targets.map((target) => [target, rank.call(this.availability, target)]));
    return targets.sort((a, b) => ranks.get(a)! - ranks.get(b)!);
  }

  private balance(route: Route, tier: number, targets: Target[]): void {
    switch (route.config.balance) {
      case 'round-robin': {
        const key = `${route.name}#${tier}`;
        const next = this.roundRobin.get(key) ?? 0;
        this.roundRobin.set(key, (next + 1) % 1_000_000);
        rotate(targets, next % targets.length);
        return;
      }
      case 'least-busy':
        targets.sort((a, b) => a.provider.inFlight - b.provider.inFlight);
        return;
      case 'least-latency':
        this.powerOfTwo(targets);
        return;
      default:
        rotate(targets, weightedPick(targets, this.random()));
    }
  }

  /** Two random targets, the faster first (unknown counts as fastest, so new targets get sampled); the rest by latency. */
  private powerOfTwo(targets: Target[]): void {
    const latency = (target: Target) => this.availability.latencyOf?.(target) ?? 0;
    const first = Math.floor(this.random() * targets.length);
    let second = Math.floor(this.random() * (targets.length - 1));
    if (second >= first) second += 1;
    const winner = latency(targets[first]!) <= latency(targets[second]!) ? targets[first]! : targets[second]!;
    targets.sort((a, b) => latency(a) - latency(b));
    targets.splice(targets.indexOf(winner), 1);
    targets.unshift(winner);
  }
}

function rotate(targets: Target[], start: number): void {
  if (start === 0) return;
  const head = targets.splice(0, start);
  targets.push(...head);
}

function weightedPick(targets: readonly Target[], draw: number): number {
  let total = 0;
  for (const target of targets) total += target.weight;
  let point = draw * total;
  for (let index = 0; index < targets.length; index += 1) {
    point -= targets[index]!.weight;
    if (point < 0) return index;
  }
  return targets.length - 1;
}
