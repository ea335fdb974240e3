import type { ProviderConfig } from '../config/schema.ts';
import { anthropicAdapter } from './anthropic.ts';
import { azureAdapter } from './azure.ts';
import { bedrockAdapter } from './bedrock.ts';
import { huggingfaceAdapter } from './huggingface.ts';
import { createOpenAICompatibleAdapter } from './openai-compatible.ts';
import type { ProviderAdapter } from './provider-spec.ts';
import { sdwebuiAdapter } from './sdwebui.ts';

// The one place that knows every provider type.
const adapters: Record<ProviderConfig['type'], ProviderAdapter> = {
  openai: createOpenAICompatibleAdapter({ type: 'openai' }),
  azure: azureAdapter,
  bedrock: bedrockAdapter,
  anthropic: anthropicAdapter,
  huggingface: huggingfaceAdapter,
  sdwebui: sdwebuiAdapter,
};

export function adapterFor(type: ProviderConfig['type']): ProviderAdapter {
  return adapters[type];
}
