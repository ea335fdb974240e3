import type { ProviderConfig } from '../config/schema.ts';
import { createOpenAICompatibleAdapter } from './openai-compatible.ts';
import type { ProviderAdapter } from './provider-spec.ts';

// The one place that knows every provider type.
const adapters: Record<ProviderConfig['type'], ProviderAdapter> = {
  openai: createOpenAICompatibleAdapter({ type: 'openai' }),
};

export function adapterFor(type: ProviderConfig['type']): ProviderAdapter {
  return adapters[type];
}
