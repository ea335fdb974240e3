import type { GatewayError } from '../errors/gateway-error.ts';
import type { ProviderConfig } from '../config/schema.ts';

// The contract between the core and one wire protocol. An adapter is pure
// functions: it never opens a socket, never sleeps, never retries. The core
// owns transport, framing (SSE, AWS event stream), timeouts and attempts.

export type Operation = 'chat' | 'embeddings' | 'images';

/** The client's request after ingress parsing: the original bytes and a parsed view. */
export interface ClientRequest {
  operation: Operation;
  /** The body exactly as the client sent it. */
  raw: Buffer;
  /** The parsed body; adapters read it, never mutate it. */
  body: Readonly<Record<string, unknown>>;
  stream: boolean;
  /** Byte range of the top-level "model" string value in `raw`, so it can be replaced without re-serialising. */
  modelRange: readonly [number, number] | undefined;
}

/** Everything an adapter needs to build one upstream request; `provider` is the settings of the adapter's own type. */
export interface AdapterContext<Provider extends ProviderConfig = ProviderConfig> {
  providerName: string;
  provider: Provider;
  /** What the provider calls the model (for Azure: the deployment). */
  model: string;
  request: ClientRequest;
}

export interface UpstreamRequest {
  method: 'GET' | 'POST';
  /** Path and query, appended to the provider base URL's path. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer | string;
}

/** One decoded upstream stream event, whatever the framing was. */
export interface StreamEvent {
  event?: string;
  data: string;
}

/** Token counts as the provider reported them. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export interface StreamMapper {
  /** OpenAI chunk JSON strings for one upstream event (none for events with nothing to say); 'done' ends the stream. */
  map(event: StreamEvent): string[] | 'done';
  /** Chunks to send after `map` said 'done' and before `[DONE]` (a usage chunk known only from the last event). */
  end?(): string[];
  usage(): Usage | undefined;
}

export interface UpstreamFailure {
  status: number;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: string;
}

export interface HealthProbe {
  method: 'GET';
  path: string;
  expectedStatus: number;
  /** Credentials when the probed endpoint needs them (an invalid key then shows as unhealthy). */
  headers?: Record<string, string>;
}

export interface ProviderAdapter<Provider extends ProviderConfig = ProviderConfig> {
  readonly type: Provider['type'];
  readonly operations: ReadonlySet<Operation>;
  /** How the upstream frames a stream; the core decodes it into StreamEvents. */
  readonly streamFraming: 'sse' | 'aws-eventstream';
  buildRequest(context: AdapterContext<Provider>): UpstreamRequest;
  /**
   * Maps a successful non-stream body to OpenAI JSON. Returns undefined when
   * the body already is OpenAI JSON and must be forwarded byte for byte.
   */
  mapResponse(body: Buffer, context: AdapterContext<Provider>): Buffer | undefined;
  /** A per-request stream translator, or undefined to forward OpenAI SSE events as they are. */
  createStreamMapper(context: AdapterContext<Provider>): StreamMapper | undefined;
  /** Token usage from a successful non-stream body (OpenAI shape after mapResponse). */
  readUsage(body: Buffer): Usage | undefined;
  mapFailure(failure: UpstreamFailure, context: AdapterContext<Provider>): GatewayError;
  healthProbe(provider: Provider): HealthProbe;
}
