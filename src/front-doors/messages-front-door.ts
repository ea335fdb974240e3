import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors/gateway-error.ts';
import type { ClientChannel } from '../pipeline/client-channel.ts';
import type { OpenedFrontDoor } from '../pipeline/request-context.ts';
import type { ClientRequest } from '../providers/provider-spec.ts';
import { parseJson, type ChatCompletion } from './chat-wire.ts';
import { FrontDoorChannel, type FrontDoorCodec, type NativeCodec } from './front-door-channel.ts';
import { anthropicError, messageFromCompletion } from './messages-output.ts';
import { checkMessagesRequest, translateMessagesRequest } from './messages-request.ts';
import { createMessagesStream, messagesErrorEvent } from './messages-stream.ts';

// Anthropic's Messages API as a second front door on the one pipeline, so
// the Anthropic SDK (and Claude Code) get the same routing, failover and
// limits. A target that speaks the API (type anthropic) gets the request as
// it came and its answer passes back untouched; any other gets its Chat
// Completions translation. Every answer, errors included, leaves in
// Anthropic's shapes, with the `request-id` header its SDK reads.

/** Answers from a target that speaks the Messages API: as they came; the stream's last event is message_stop, or an error. */
const passedThrough: NativeCodec = {
  answer: (body) => body,
  stream: () => ({
    event: (event, name, data) => {
      const type = name ?? (parseJson(data) as { type?: string } | undefined)?.type;
      return { text: event, last: type === 'message_stop' || type === 'error' };
    },
    fail: messagesErrorEvent,
  }),
};

function codecFor(model: string): FrontDoorCodec {
  return {
    headers: (headers): Record<string, string> => (headers['x-request-id'] ? { 'request-id': headers['x-request-id'] } : {}),
    answer(status, body) {
      if (status < 200 || status >= 300) return JSON.stringify(anthropicError(status, body));
      return JSON.stringify(messageFromCompletion(parseJson(body) as ChatCompletion, model));
    },
    stream: () => createMessagesStream({ model }),
    native: passedThrough,
  };
}

/** The channel that answers in Anthropic's shapes, also for errors raised before a request could be opened. */
export function messagesChannel(client: ClientChannel, model = 'unknown'): ClientChannel {
  return new FrontDoorChannel(client, codecFor(model));
}

/** The client headers an Anthropic target gets with a request passed through: the API version and beta features it asked for. */
const passedHeaders = ['anthropic-version', 'anthropic-beta'];

export function openMessages(native: ClientRequest, headers: IncomingHttpHeaders, client: ClientChannel): OpenedFrontDoor {
  const body = native.body;
  checkMessagesRequest(body);
  const chat = (): Buffer | GatewayError => {
    try {
      return Buffer.from(JSON.stringify(translateMessagesRequest(body).chat));
    } catch (error) {
      // Not expressible as Chat Completions: only a target that speaks the Messages API can take it.
      if (error instanceof GatewayError) return error;
      throw error;
    }
  };
  const kept: Record<string, string> = {};
  for (const name of passedHeaders) {
    const value = headers[name];
    if (typeof value === 'string' && value !== '') kept[name] = value;
  }
  return { native: { ...native, headers: kept }, chat, channel: messagesChannel(client, body.model as string) };
}

/**
 * Anthropic's SDK sends its key as `x-api-key`; the gateway's keys are read
 * from `Authorization: Bearer`, so a key given that way is read the same.
 */
export function messagesHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const key = headers['x-api-key'];
  if (headers.authorization || typeof key !== 'string' || key === '') return headers;
  return { ...headers, authorization: `Bearer ${key}` };
}
