import type { ProviderConfigOf, ProviderType } from '../config/schema.ts';
import { anthropicAdapter } from './anthropic.ts';
import { azureAdapter } from './azure.ts';
import { bedrockAdapter } from './bedrock.ts';
import { huggingfaceAdapter } from './huggingface.ts';
import { bearerAuth, createOpenAICompatibleAdapter } from './openai-compatible.ts';
import type { ProviderAdapter } from './provider-spec.ts';
import { sdwebuiAdapter } from './sdwebui.ts';

// The one place that knows every provider type. Each adapter reads the typed
// settings of its own type; the map's type pairs every type with its adapter.
const adapters: { [Type in ProviderType]: ProviderAdapter<ProviderConfigOf<Type>> } = {
  openai: createOpenAICompatibleAdapter<ProviderConfigOf<'openai'>>({ type: 'openai', auth: bearerAuth }),
  azure: azureAdapter,
  bedrock: bedrockAdapter,
  anthropic: anthropicAdapter,
  huggingface: huggingfaceAdapter,
  sdwebui: sdwebuiAdapter,
};

/** The adapter of a provider's type, which is given only that provider's settings (the client keeps the two together). */
export function adapterFor(type: ProviderType): ProviderAdapter {
  return adapters[type] as ProviderAdapter;
}
