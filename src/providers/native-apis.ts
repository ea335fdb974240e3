import type { ProviderConfig } from '../config/schema.ts';
import { createMessagesWatch, readMessagesUsage } from './messages-native.ts';
import type { NativeApi, NativeStreamWatch, UpstreamFailure, Usage } from './provider-spec.ts';
import { createResponsesWatch, readResponsesUsage, responsesFailure } from './responses-native.ts';

// Which APIs a provider speaks natively (its `native` setting, else the
// default of its type), and how an answer in each of them is read when it
// passes through: its stream's events, its usage, a failure inside a 200.

/** The part of each native API's wire format the core reads. */
export interface NativeWire {
  createWatch(): NativeStreamWatch;
  readUsage(body: Buffer): Usage | undefined;
  /** The failure a whole 200 answer reports (a Response with status "failed"), if it does. */
  failure?(body: Buffer): UpstreamFailure | undefined;
}

const wires: Record<NativeApi, NativeWire> = {
  responses: { createWatch: createResponsesWatch, readUsage: readResponsesUsage, failure: responsesFailure },
  messages: { createWatch: createMessagesWatch, readUsage: readMessagesUsage },
};

export function nativeWire(api: NativeApi): NativeWire {
  return wires[api];
}

/**
 * The APIs passed through to this provider. By default: the Responses API for
 * OpenAI itself (base_url on api.openai.com) and Azure OpenAI deployments,
 * the Messages API for type anthropic; none for other OpenAI-compatible
 * servers (DeepSeek, most self-hosted ones have no /v1/responses).
 */
export function nativeApis(provider: ProviderConfig): ReadonlySet<NativeApi> {
  if ('native' in provider && provider.native !== undefined) return new Set(provider.native);
  switch (provider.type) {
    case 'openai':
      return new Set(new URL(provider.base_url).hostname === 'api.openai.com' ? ['responses'] : []);
    case 'azure':
      return new Set(provider.azure_api === 'deployments' ? ['responses'] : []);
    case 'anthropic':
      return new Set(['messages']);
    default:
      return new Set();
  }
}
