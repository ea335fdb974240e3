import type { TrafficClass } from '../config/schema.ts';
import type { Route, Target } from './route-table.ts';

// The order in which a request tries a route's targets: tier by tier, and
// within a tier by the route's balance strategy. Targets that cannot take this
// request (its class, its sensitivity) are left out; so are targets known to
// be down, unless every target is (then the ones whose breaker allows it are
// tried anyway: a guess beats a certain 503).

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
  breakerAllows(target: Target): boolean;
  /** Recent time to first token, for least-latency; undefined when unknown. */
  latencyOf?(target: Target): number | undefined;
}

export const alwaysAvailable: TargetAvailability = { isAvailable: () => true, breakerAllows: () => true };

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

  /** Every target the request may use, best first. `eligible` counts those the request could use at all. */
  candidates(route: Route, filter: CandidateFilter): { ordered: Target[]; eligible: number } {
    const ordered: Target[] = [];
    const fallback: Target[] = [];
    for (const tier of route.tiers) {
      const usable: Target[] = [];
      for (const target of tier) {
        if (!target.classes.has(filter.trafficClass)) continue;
        if (filter.privateOnly && !target.provider.config.private) continue;
        if (this.availability.isAvailable(target)) usable.push(target);
        else if (this.availability.breakerAllows(target)) fallback.push(target);
      }
      if (usable.length > 1) this.balance(route, tier[0]!.tier, usable);
      for (const target of usable) ordered.push(target);
    }
    const eligible = ordered.length + fallback.length;
    const chosen = ordered.length > 0 ? ordered : fallback;
    // A stable sort: among equal prices, tier and balance order stand.
    if (filter.cheapestFirst) chosen.sort((a, b) => priceOf(a) - priceOf(b));
    return { ordered: chosen, eligible: eligible + this.countOpen(route, filter) };
  }

  private countOpen(route: Route, filter: CandidateFilter): number {
    let open = 0;
    for (const target of route.targets) {
      if (!target.classes.has(filter.trafficClass) || (filter.privateOnly && !target.provider.config.private)) continue;
      if (!this.availability.isAvailable(target) && !this.availability.breakerAllows(target)) open += 1;
    }
    return open;
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
