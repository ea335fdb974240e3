import type { TrafficClass } from '../config/schema.ts';
import type { Route, Target } from './route-table.ts';

// The order in which a request tries a route's targets: tier by tier, and
// within a tier by the route's balance strategy. Targets that cannot take this
// request (its class, its sensitivity) or that are known to be down are left out.

export interface CandidateFilter {
  trafficClass: TrafficClass;
  /** Only providers marked `private: true`. */
  privateOnly: boolean;
}

/** The seam where health checks and circuit breakers say whether a target may be tried. */
export interface TargetAvailability {
  isAvailable(target: Target): boolean;
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

  /** Every target the request may use, best first. `eligible` is the count before availability was applied. */
  candidates(route: Route, filter: CandidateFilter): { ordered: Target[]; eligible: number } {
    const ordered: Target[] = [];
    let eligible = 0;
    for (const tier of route.tiers) {
      const usable: Target[] = [];
      for (const target of tier) {
        if (!target.classes.has(filter.trafficClass)) continue;
        if (filter.privateOnly && !target.provider.config.private) continue;
        eligible += 1;
        if (this.availability.isAvailable(target)) usable.push(target);
      }
      if (usable.length > 1) this.balance(route, tier[0]!.tier, usable);
      for (const target of usable) ordered.push(target);
    }
    return { ordered, eligible };
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
      default:
        // weighted (and least-latency until latency tracking lands): a weighted random first pick, the rest in config order.
        rotate(targets, weightedPick(targets, this.random()));
    }
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
