import type { ProviderType } from './schema.ts';

// With no config file, the well-known provider variables build a config: one
// provider per key found and a failover route "chat" through them, in the
// order below (the first key found is tier 1, the next tier 2, ...).

interface KnownProvider {
  name: string;
  type?: ProviderType;
  variable: string;
  baseUrl: string;
  chatModel: string;
  embeddingModel?: string;
}

export const knownProviders: readonly KnownProvider[] = [
  { name: 'deepseek', variable: 'DEEPSEEK_API_KEY', baseUrl: 'https://api.deepseek.com/v1', chatModel: 'deepseek-chat' },
  { name: 'openai', variable: 'OPENAI_API_KEY', baseUrl: 'https://api.openai.com/v1', chatModel: 'gpt-4o-mini', embeddingModel: 'text-embedding-3-small' },
  { name: 'siliconflow', variable: 'SILICONFLOW_API_KEY', baseUrl: 'https://api.siliconflow.cn/v1', chatModel: 'deepseek-ai/DeepSeek-V3' },
  { name: 'together', variable: 'TOGETHER_API_KEY', baseUrl: 'https://api.together.xyz/v1', chatModel: 'deepseek-ai/DeepSeek-V3' },
  { name: 'groq', variable: 'GROQ_API_KEY', baseUrl: 'https://api.groq.com/openai/v1', chatModel: 'llama-3.3-70b-versatile' },
  { name: 'mistral', variable: 'MISTRAL_API_KEY', baseUrl: 'https://api.mistral.ai/v1', chatModel: 'mistral-small-latest', embeddingModel: 'mistral-embed' },
  { name: 'anthropic', type: 'anthropic', variable: 'ANTHROPIC_API_KEY', baseUrl: 'https://api.anthropic.com', chatModel: 'claude-3-5-haiku-latest' },
];

/** A config document from provider keys in the environment, or undefined when there are none. */
export function configFromEnvironment(environment: Record<string, string | undefined>): Record<string, unknown> | undefined {
  const found = knownProviders.filter((provider) => (environment[provider.variable] ?? '') !== '');
  if (found.length === 0) return undefined;
  const providers: Record<string, unknown> = {};
  for (const provider of found) {
    providers[provider.name] = {
      type: provider.type ?? 'openai',
      base_url: `\${${provider.name.toUpperCase()}_BASE_URL:-${provider.baseUrl}}`,
      api_key: `\${${provider.variable}}`,
    };
  }
  const routes: Record<string, unknown> = {
    chat: { targets: found.map((provider, index) => ({ provider: provider.name, model: provider.chatModel, tier: index + 1 })) },
  };
  const embedders = found.filter((provider) => provider.embeddingModel);
  if (embedders.length > 0) {
    routes.embeddings = { targets: embedders.map((provider, index) => ({ provider: provider.name, model: provider.embeddingModel, tier: index + 1 })) };
  }
  return { providers, routes };
}
