import { buildConfig } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/schema.ts';
import { ManualClock } from '../../src/resilience/clock.ts';
import { RouteTable, type Route, type Target } from '../../src/routing/route-table.ts';
import { ProviderClient } from '../../src/upstream/provider-client.ts';

// Routes compiled from a config as the gateway compiles them (real provider
// clients, never sent anything), for unit tests of what reads them: candidate
// order, attempt plans, hedging. Providers are `openai` types on a closed
// port unless the document says otherwise.

export interface RouteFixture {
  config: Config;
  clock: ManualClock;
  providers: ReadonlyMap<string, ProviderClient>;
  route(name: string): Route;
  /** The target `provider/model`. */
  target(route: string, key: string): Target;
  close(): Promise<void>;
}

export function routeFixture(document: { providers: Record<string, Record<string, unknown>>; routes: Record<string, unknown> }): RouteFixture {
  const providerDocuments = Object.fromEntries(
    Object.entries(document.providers).map(([name, provider]) => [name, { type: 'openai', base_url: 'http://127.0.0.1:9/v1', ...provider }]),
  );
  const config = buildConfig({ ...document, providers: providerDocuments }, 'test');
  const clock = new ManualClock();
  const providers = new Map(Object.entries(config.providers).map(([name, provider]) => [name, new ProviderClient(name, provider, { clock })]));
  const table = new RouteTable(config, providers);
  const route = (name: string) => table.routes.get(name) ?? assertNever(`no route ${name}`);
  return {
    config,
    clock,
    providers,
    route,
    target: (name, key) => route(name).targets.find((target) => target.key === key) ?? assertNever(`no target ${key}`),
    close: async () => {
      await Promise.all([...providers.values()].map((provider) => provider.destroy()));
    },
  };
}

function assertNever(message: string): never {
  throw new Error(message);
}
