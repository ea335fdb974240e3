import type { GatewayError } from '../errors/gateway-error.ts';
import type { ProviderConfig } from '../config/schema.ts';

// The contract between the core and one wire protocol. An adapter is pure
// functions: it never opens a socket, never sleeps, never retries. The core
// owns transport, framing (SSE, AWS event stream), timeouts and attempts.

/**
 * What a request asks for. `responses` and `messages` are the Responses API
 * and Anthropic's Messages API as their front doors received them: passed
 * through to a provider that speaks them natively (`native`), else sent as
 * their Chat Completions translation.
 */
export type Operation = 'chat' | 'embeddings' | 'images' | 'responses' | 'messages';

/** An API a provider may speak natively besides OpenAI's: its requests and answers pass through in their own shapes. */
export type NativeApi = Extract<Operation, 'responses' | 'messages'>;

export function isNativeApi(operation: Operation): operation is NativeApi {
  return operation === 'responses' || operation === 'messages';
}

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
  /** Client headers a native API passes on (Anthropic's `anthropic-version` and `anthropic-beta`). */
  headers?: Readonly<Record<string, string>>;
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

/** What one event of a native stream means to the gateway. */
export type NativeEventKind =
  /** Before the answer proper (response.created, message_start, ping): held back until content, so a failure right after may still fail over. */
  | 'preamble'
  | 'content'
  /** The stream's last event (response.completed, message_stop). */
  | 'end';

/** Watches one native stream, forwarded as it came: its events' meaning, its failures and its usage. */
export interface NativeStreamWatch {
  /** The kind of one event; an error event (or a failed response) is returned as the failure it reports. */
  observe(event: StreamEvent): NativeEventKind | UpstreamFailure;
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
  /** What its providers serve in OpenAI's shapes; a native API is served when the provider speaks it (native-apis.ts). */
  readonly operations: ReadonlySet<Operation>;
  /** How the upstream frames a stream; the core decodes it into StreamEvents. */
  readonly streamFraming: 'sse' | 'aws-eventstream';
  buildRequest(context: AdapterContext<Provider>): UpstreamRequest;
  /**
   * Maps a successful non-stream body to OpenAI JSON. Returns undefined when
   * the body already is OpenAI JSON, or a native API's answer, and must be
   * forwarded byte for byte.
   */
  mapResponse(body: Buffer, context: AdapterContext<Provider>): Buffer | undefined;
  /** A per-request stream translator, or undefined to forward OpenAI SSE events (or a native API's) as they are. */
  createStreamMapper(context: AdapterContext<Provider>): StreamMapper | undefined;
  /** Token usage from a successful non-stream body (OpenAI shape after mapResponse). */
  readUsage(body: Buffer): Usage | undefined;
  mapFailure(failure: UpstreamFailure, context: AdapterContext<Provider>): GatewayError;
  healthProbe(provider: Provider): HealthProbe;
}
