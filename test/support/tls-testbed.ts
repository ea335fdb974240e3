import { startGateway, startSim, type RunningGateway } from './gateway-harness.ts';
import { beforeAndAfter } from './hooks.ts';
import { createTestAuthority, opensslAvailable, type TestAuthority } from './test-certificates.ts';

// What a TLS test file needs: a simulated provider, a test CA (when the machine has
// openssl; each test then checks needsOpenssl), and the gateways it starts, closed after.

export interface TlsTestbed {
  upstream: Awaited<ReturnType<typeof startSim>>;
  authority: TestAuthority;
  /** A gateway on port 0 serving `cert`/`key` over TLS, one route `chat` to the simulator; closed after the file's tests. */
  gatewayWith(identity: { cert: string; key: string }, tls?: Record<string, unknown>): Promise<RunningGateway>;
}

export function tlsTestbed(): TlsTestbed {
  const gateways: RunningGateway[] = [];
  const testbed: TlsTestbed = {
    upstream: undefined as unknown as TlsTestbed['upstream'],
    authority: undefined as unknown as TestAuthority,
    async gatewayWith(identity, tls = {}) {
      const gateway = await startGateway({
        server: { tls: { cert: identity.cert, key: identity.key, ...tls } },
        providers: { up: { type: 'openai', base_url: testbed.upstream.url } },
        routes: { chat: { targets: [{ provider: 'up', model: 'm1' }] } },
      });
      gateways.push(gateway);
      return gateway;
    },
  };
  beforeAndAfter(
    async () => {
      if (!opensslAvailable()) return;
      testbed.upstream = await startSim({ models: ['m1'] });
      testbed.authority = createTestAuthority();
    },
    async () => {
      for (const gateway of gateways) await gateway.close();
      await testbed.upstream?.close();
    },
  );
  return testbed;
}
