import { headerValue } from '../config/header-value.ts';
import type { Config, RouteConfig, TargetConfig, TrafficClass } from '../config/schema.ts';
import type { ProviderClient } from '../upstream/provider-client.ts';

// Routes compiled once per config load: each target bound to its provider
// client, tiers pre-sorted, and the lookup of a model name precomputed.

export interface Target {
  /** `provider/model`, stable across reloads: the key for health and balance state. */
  readonly key: string;
  readonly provider: ProviderClient;
  readonly model: string;
  readonly tier: number;
  readonly weight: number;
  readonly classes: ReadonlySet<TrafficClass>;
  readonly config: TargetConfig;
  /** The provider and model names as response headers may carry them (see header-value.ts), made once. */
  readonly headerNames: { readonly provider: string; readonly model: string };
}

export interface Route {
  readonly name: string;
  readonly config: RouteConfig;
  /** Targets grouped by tier, lowest tier first. */
  readonly tiers: readonly (readonly Target[])[];
  readonly targets: readonly Target[];
}

export class RouteTable {
  readonly routes: ReadonlyMap<string, Route>;
  /** A target model name that belongs to exactly one route leads there. */
  private readonly byTargetModel: ReadonlyMap<string, Route>;

  constructor(config: Config, providers: ReadonlyMap<string, ProviderClient>) {
    const routes = new Map<string, Route>();
    const modelOwners = new Map<string, Set<Route>>();
    for (const [name, routeConfig] of Object.entries(config.routes)) {
      const targets = routeConfig.targets.map((targetConfig): Target => {
        const provider = providers.get(targetConfig.provider);
        if (!provider) throw new Error(`route ${name}: unknown provider ${targetConfig.provider}`);
        return {
          key: `${targetConfig.provider}/${targetConfig.model}`,
          provider,
          model: targetConfig.model,
          tier: targetConfig.tier,
          weight: targetConfig.weight,
          classes: new Set(targetConfig.classes),
          config: targetConfig,
          headerNames: { provider: headerValue(targetConfig.provider), model: headerValue(targetConfig.model) },
        };
      });
      const tierNumbers = [...new Set(targets.map((target) => target.tier))].sort((a, b) => a - b);
      const route: Route = { name, config: routeConfig, targets, tiers: tierNumbers.map((tier) => targets.filter((target) => target.tier === tier)) };
      routes.set(name, route);
      for (const target of targets) {
        const owners = modelOwners.get(target.model) ?? new Set<Route>();
        owners.add(route);
        modelOwners.set(target.model, owners);
      }
    }
    this.routes = routes;
    this.byTargetModel = new Map([...modelOwners].filter(([, owners]) => owners.size === 1).map(([model, owners]) => [model, [...owners][0]!]));
  }

  /** The route a request's `model` names, or undefined. */
  find(model: string): Route | undefined {
    return this.routes.get(model) ?? this.byTargetModel.get(model);
  }

  get names(): string[] {
    return [...this.routes.keys()];
  }
}
