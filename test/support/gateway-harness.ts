import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { buildConfig } from '../../src/config/load-config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { GatewayMetrics } from '../../src/observability/metrics.ts';
import { Gateway } from '../../src/pipeline/gateway.ts';
import type { Clock } from '../../src/resilience/clock.ts';
import type { AddressInfo } from 'node:net';
import { adminListener } from '../../src/server/admin-plane.ts';
import { createServer } from '../../src/server/create-server.ts';
import { createSimulatedProvider, type SimulatedProvider } from '../../src/sim/simulated-provider.ts';
import type { SimOptions } from '../../src/sim/sim-options.ts';
import { tempDir } from './temp-dir.ts';

// A real gateway on a real socket (port 0), logging to a file the test can
// read, and the official OpenAI SDK pointed at it, as an application would be.

export interface RunningGateway {
  origin: string;
  /** The admin plane's own listener, when the config sets server.admin. */
  adminOrigin: string | undefined;
  baseURL: string;
  gateway: Gateway;
  client: OpenAI;
  logs(): string;
  close(): Promise<void>;
}

/** The key every test client sends; the gateway must never forward it upstream. */
export const clientKey = 'sk-client-key-that-must-stay-here-000000';

/** `clock`: the gateway's time (a test moves epochMs to make kept things expire). */
export async function startGateway(document: Record<string, unknown>, options: { clock?: Clock } = {}): Promise<RunningGateway> {
  const directory = tempDir('switchyard-test-');
  const logFile = join(directory, 'gateway.log');
  const config = buildConfig({ server: { port: 0, ...(document.server as object) }, ...document }, 'test');
  const logger = createLogger({ level: 'info', destination: logFile, sync: true });
  const gateway = new Gateway(config, { logger, metrics: new GatewayMetrics({ defaultMetrics: false }), clock: options.clock });
  const app = createServer(gateway);
  const origin = await app.listen({ host: '127.0.0.1', port: 0 });
  const baseURL = `${origin}/v1`;
  const admin = adminListener(app)?.server.address() as AddressInfo | undefined;
  return {
    origin,
    adminOrigin: admin ? `http://127.0.0.1:${admin.port}` : undefined,
    baseURL,
    gateway,
    client: new OpenAI({ baseURL, apiKey: clientKey, maxRetries: 0, timeout: 20_000 }),
    // A request's line is written on the turn after its answer; the client here may read the answer first.
    logs: () => {
      gateway.flushRequestLog();
      return readFileSync(logFile, 'utf8');
    },
    close: async () => {
      // Tests end abruptly: connections the clients left open are cut, not drained.
      const closing = app.close();
      app.server.closeAllConnections();
      await closing;
      await gateway.close();
    },
  };
}

export async function startSim(options: Partial<SimOptions> = {}): Promise<SimulatedProvider & { url: string }> {
  const sim = createSimulatedProvider({ port: 0, seed: 1, chunks: 5, ...options });
  const { url } = await sim.listen();
  return Object.assign(sim, { url });
}
