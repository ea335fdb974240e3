import { GatewayError } from '../errors/gateway-error.ts';
import type { ClientChannel } from '../pipeline/client-channel.ts';
import { parseJson, type ChatCompletion } from './chat-wire.ts';
import { FrontDoorChannel, type FrontDoorCodec } from './front-door-channel.ts';
import { HeldChannel } from './held-channel.ts';
import type { ResponseStore, StoredResponse } from './response-store.ts';
import { newItemId, nowSeconds, responseFromCompletion, type ResponseDraft } from './responses-output.ts';
import { translateResponsesRequest, type ResponseItem } from './responses-request.ts';
import { createResponsesStream } from './responses-stream.ts';

// The Responses API over the Chat Completions pipeline: `open` turns a
// request into a chat body and a channel that answers in the Responses
// API's shapes and keeps the answer (store: true, OpenAI's default) for the
// conversation's next turn, which may then go to any target. Errors are
// OpenAI's own shape already and pass through as they are.

type Loose = Record<string, unknown>;

/** What the server sends through the pipeline, and where the answer goes. */
export interface OpenedRequest {
  body: Buffer;
  channel: ClientChannel;
}

/** Conversations longer than this many turns are refused rather than walked. */
const maxChainLength = 1000;

export class ResponsesFrontDoor {
  private readonly store: ResponseStore;

  constructor(store: ResponseStore) {
    this.store = store;
  }

  async open(body: Loose, tenant: string, client: ClientChannel): Promise<OpenedRequest> {
    const previousId = body.previous_response_id;
    if (previousId !== undefined && previousId !== null && typeof previousId !== 'string') throw new GatewayError('invalid_request', '`previous_response_id` must be a string.', { param: 'previous_response_id' });
    const history = typeof previousId === 'string' ? await this.conversation(tenant, previousId) : [];
    const references = await this.references(tenant, body.input);
    const request = translateResponsesRequest(body, { history, resolveItem: (id) => references.get(id) });
    const draft: ResponseDraft = { id: newItemId('resp'), createdAt: nowSeconds(), echo: request.echo };
    // The answer is kept before the client sees its end, so its next turn finds it on any replica.
    const held = new HeldChannel(client);
    const keep = (response: Loose) => {
      if (request.store) held.holdUntil(this.store.put(tenant, { response: response as StoredResponse['response'], input: request.input }));
    };
    const model = body.model as string;
    const codec: FrontDoorCodec = {
      answer(status, answer) {
        if (status < 200 || status >= 300) return answer.toString();
        const response = responseFromCompletion(draft, parseJson(answer) as ChatCompletion, model);
        keep(response);
        return JSON.stringify(response);
      },
      stream: () => createResponsesStream({ draft, model, onComplete: keep }),
    };
    return { body: Buffer.from(JSON.stringify(request.chat)), channel: new FrontDoorChannel(held, codec) };
  }

  async retrieve(tenant: string, id: string): Promise<Loose> {
    const stored = await this.store.get(tenant, id);
    if (!stored) throw notFound(id);
    return stored.response;
  }

  async delete(tenant: string, id: string): Promise<Loose> {
    if (!(await this.store.delete(tenant, id))) throw notFound(id);
    return { id, object: 'response', deleted: true };
  }

  /** Only background responses can be cancelled, and this gateway runs none: a kept answer has always finished. */
  async cancel(tenant: string, id: string): Promise<never> {
    if (!(await this.store.get(tenant, id))) throw notFound(id);
    throw new GatewayError('invalid_request', `Cannot cancel response '${id}': only responses created with background=true can be cancelled, and this one has already finished.`);
  }

  /** The items of every turn up to and including `id`, oldest first. */
  private async conversation(tenant: string, id: string): Promise<ResponseItem[]> {
    const turns: StoredResponse[] = [];
    let next: unknown = id;
    while (typeof next === 'string') {
      const stored = await this.store.get(tenant, next);
      if (!stored) throw new GatewayError('previous_response_not_found', `Previous response with id '${next}' not found.`, { param: 'previous_response_id' });
      turns.push(stored);
      if (turns.length > maxChainLength) throw new GatewayError('invalid_request', `The conversation before '${id}' is longer than ${maxChainLength} responses.`, { param: 'previous_response_id' });
      next = stored.response.previous_response_id;
    }
    return turns.reverse().flatMap((turn) => [...turn.input, ...turn.response.output]);
  }

  /** The kept items that `item_reference` inputs name, looked up before the (synchronous) translation. */
  private async references(tenant: string, input: unknown): Promise<Map<string, ResponseItem>> {
    const found = new Map<string, ResponseItem>();
    if (!Array.isArray(input)) return found;
    for (const item of input as Loose[]) {
      if (item?.type !== 'item_reference' || typeof item.id !== 'string' || found.has(item.id)) continue;
      const kept = await this.store.item(tenant, item.id);
      if (kept) found.set(item.id, kept);
    }
    return found;
  }
}

function notFound(id: string): GatewayError {
  return new GatewayError('response_not_found', `Response with id '${id}' not found.`);
}
