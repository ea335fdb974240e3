import { isNativeApi, type ClientRequest } from '../providers/provider-spec.ts';
import type { ProviderClient } from '../upstream/provider-client.ts';
import { chatRequest, type GatewayRequest } from './gateway-request.ts';

// Which request a target gets. A request through the Responses or Messages
// front door goes as it came to a provider that speaks that API natively
// (`native`), and as its Chat Completions translation to any other; every
// other request goes as it came, to providers that serve its operation.

/** True when `provider` can serve the request, natively or translated. */
export function serves(request: GatewayRequest, provider: ProviderClient): boolean {
  const operation = request.client.operation;
  if (!isNativeApi(operation)) return provider.adapter.operations.has(operation);
  return provider.native.has(operation) || (chatRequest(request) !== undefined && provider.adapter.operations.has('chat'));
}

/** The request for an attempt on `provider`, which `serves` it. */
export function requestFor(request: GatewayRequest, provider: ProviderClient): ClientRequest {
  const client = request.client;
  if (!isNativeApi(client.operation)) return client;
  if (provider.native.has(client.operation)) return request.nativeFor?.(provider.name) ?? client;
  return chatRequest(request)!;
}
