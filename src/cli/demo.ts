import { buildConfig } from '../config/load-config.ts';
import type { Config } from '../config/schema.ts';
import { createSimulatedProvider, type SimulatedProvider } from '../sim/simulated-provider.ts';

// The demo behind a bare `npm start`: three simulated providers in this
// process, the first one busy a good part of the time the way DeepSeek is at
// peak (503s, and 200-then-keep-alive holds), and one failover route over them.

export interface Demo {
  config: Config;
  close(): Promise<void>;
}

export async function startDemo(server: { host: string; port: number }): Promise<Demo> {
  const specs = [
    { name: 'deepseek-sim', seed: 7, busyRate: 0.3, holdRate: 0.1, holdMs: 5_000, models: ['deepseek-chat'], latencyMs: 40, latencyP99Ms: 400 },
    { name: 'backup-a', seed: 11, busyRate: 0.03, models: ['qwen2.5-72b-instruct', 'bge-m3'], latencyMs: 60, latencyP99Ms: 500 },
    { name: 'backup-b', seed: 13, busyRate: 0.03, models: ['llama-3.3-70b', 'bge-m3'], latencyMs: 80, latencyP99Ms: 600 },
  ];
  const sims: SimulatedProvider[] = specs.map((spec) => createSimulatedProvider({ ...spec, port: 0, host: '127.0.0.1', chunks: 12, chunkIntervalMs: 30 }));
  const urls = await Promise.all(sims.map(async (sim) => (await sim.listen()).url));
  const document = {
    server,
    providers: {
      'deepseek-sim': { type: 'openai', base_url: urls[0], api_key: 'demo-key-not-secret' },
      'backup-a': { type: 'openai', base_url: urls[1] },
      'backup-b': { type: 'openai', base_url: urls[2] },
    },
    routes: {
      chat: {
        targets: [
          { provider: 'deepseek-sim', model: 'deepseek-chat' },
          { provider: 'backup-a', model: 'qwen2.5-72b-instruct', tier: 2 },
          { provider: 'backup-b', model: 'llama-3.3-70b', tier: 2 },
        ],
        balance: 'round-robin',
        timeouts: { first_token: '2s', total: '60s' },
      },
      embeddings: { targets: [{ provider: 'backup-a', model: 'bge-m3' }, { provider: 'backup-b', model: 'bge-m3' }] },
    },
    // The Batch API, to try: kept in memory, so the demo leaves no file behind.
    batches: { store: ':memory:' },
  };
  return {
    config: buildConfig(document, 'demo'),
    close: async () => {
      await Promise.all(sims.map((sim) => sim.close()));
    },
  };
}

export function demoBanner(baseUrl: string): string {
  return `
  Switchyard demo is running on ${baseUrl}
  Three simulated providers sit behind the route "chat"; "deepseek-sim" answers
  "server busy" about 30% of the time and holds 10% of requests. Your app won't notice.

  curl:
    curl ${baseUrl}/v1/chat/completions -H 'content-type: application/json' \\
      -d '{"model":"chat","messages":[{"role":"user","content":"Hello"}]}' -i

  OpenAI SDK (Node):
    import OpenAI from 'openai';
    const client = new OpenAI({ baseURL: '${baseUrl}/v1', apiKey: 'unused' });
    const answer = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'Hello' }] });

  Batches (kept in memory in the demo): client.files.create({ file, purpose: 'batch' }),
  then client.batches.create({ input_file_id, endpoint: '/v1/chat/completions', completion_window: '24h' }).

  Real providers: set DEEPSEEK_API_KEY and/or OPENAI_API_KEY (also SILICONFLOW_, TOGETHER_,
  GROQ_, MISTRAL_API_KEY) and restart, or write switchyard.yaml (see README) and run
  switchyard serve --config switchyard.yaml. Status: ${baseUrl}/admin/status, metrics: ${baseUrl}/metrics
`;
}
