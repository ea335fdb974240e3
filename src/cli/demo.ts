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
  const sims: SimulatedProvider[] = specs.map((spec) => createSimulatedProvider({ ...spec, port: 0, host: '127.0.0.1', chunks: 20, chunkIntervalMs: 20 }));
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
      embeddings: {
        targets: [
          { provider: 'backup-a', model: 'bge-m3' },
          { provider: 'backup-b', model: 'bge-m3' },
        ],
      },
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

/** The tour's SDK program: runnable as it is from an empty folder (`npm i openai`, then `node tour.mjs`); the README shows the same. */
export function tourProgram(baseUrl: string): string {
  return `import OpenAI from 'openai';
const client = new OpenAI({ baseURL: '${baseUrl}/v1', apiKey: 'unused' });
const answer = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'Hello' }] });
console.log(answer.choices[0].message.content);
const stream = await client.chat.completions.create({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'Hello' }] });
for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta.content ?? '');
console.log();
`;
}

export function demoBanner(baseUrl: string): string {
  const indent = (text: string) => text.trimEnd().replace(/^/gm, '    ');
  return `
  Switchyard demo is running on ${baseUrl}
  Watch it live in a browser: ${baseUrl}/dashboard

  Three simulated providers sit behind the route "chat". "deepseek-sim" answers "server
  busy" (503) to about 30% of requests: Switchyard moves those to backup-a or backup-b at
  once (see the x-switchyard-provider and x-switchyard-attempts headers). It also holds about
  10% open, a 200 with keep-alives and no content, as DeepSeek does under load: at its first
  keep-alive (half a second in) Switchyard starts a backup beside it and the first answer
  wins, so those calls take about 0.6 s. Every call gets an answer; the console lists each
  move under "Recent failovers".

  curl:
    curl ${baseUrl}/v1/chat/completions -H 'content-type: application/json' \\
      -d '{"model":"chat","messages":[{"role":"user","content":"Hello"}]}' -i

  OpenAI SDK (Node), from an empty folder: npm i openai, save this as tour.mjs, run node tour.mjs
${indent(tourProgram(baseUrl))}

  Batches (kept in memory in the demo): client.files.create({ file, purpose: 'batch' }),
  then client.batches.create({ input_file_id, endpoint: '/v1/chat/completions', completion_window: '24h' }).

  Real providers: set DEEPSEEK_API_KEY and/or OPENAI_API_KEY (also SILICONFLOW_, TOGETHER_,
  GROQ_, MISTRAL_API_KEY) and restart, or write switchyard.yaml (see README) and run
  npx switchyard serve --config switchyard.yaml. Status: ${baseUrl}/admin/status, metrics: ${baseUrl}/metrics
`;
}
