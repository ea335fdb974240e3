import type { IncomingHttpHeaders } from 'node:http';
import type { ClientChannel } from '../pipeline/client-channel.ts';
import { parseJson, type ChatCompletion } from './chat-wire.ts';
import { FrontDoorChannel, type FrontDoorCodec } from './front-door-channel.ts';
import { anthropicError, messageFromCompletion } from './messages-output.ts';
import { translateMessagesRequest } from './messages-request.ts';
import { createMessagesStream } from './messages-stream.ts';
import type { OpenedRequest } from './responses-front-door.ts';

// Anthropic's Messages API as a second front door over the Chat Completions
// pipeline, so the Anthropic SDK (and Claude Code) get the same routing,
// failover and limits. Every answer, errors included, leaves in Anthropic's
// shapes, with the `request-id` header its SDK reads.

type Loose = Record<string, unknown>;

function codecFor(model: string): FrontDoorCodec {
  return {
    headers: (headers): Record<string, string> => (headers['x-request-id'] ? { 'request-id': headers['x-request-id'] } : {}),
    answer(status, body) {
      if (status < 200 || status >= 300) return JSON.stringify(anthropicError(status, body));
      return JSON.stringify(messageFromCompletion(parseJson(body) as ChatCompletion, model));
    },
    stream: () => createMessagesStream({ model }),
  };
}

/** The channel that answers in Anthropic's shapes, also for errors raised before a request could be opened. */
export function messagesChannel(client: ClientChannel, model = 'unknown'): ClientChannel {
  return new FrontDoorChannel(client, codecFor(model));
}

export function openMessages(body: Loose, client: ClientChannel): OpenedRequest {
  const request = translateMessagesRequest(body);
  return { body: Buffer.from(JSON.stringify(request.chat)), channel: messagesChannel(client, body.model as string) };
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
