import { GatewayError } from '../errors/gateway-error.ts';
import type { ClientChannel } from '../pipeline/client-channel.ts';
import type { OpenedFrontDoor } from '../pipeline/request-context.ts';
import type { ClientRequest } from '../providers/provider-spec.ts';
import { parseJson, type ChatCompletion } from './chat-wire.ts';
import { FrontDoorChannel, type FrontDoorCodec } from './front-door-channel.ts';
import type { ResponseStore, StoredItem, StoredResponse } from './response-store.ts';
import { nativeResponsesCodec, spelledOutFor, type KeptItem } from './responses-native.ts';
import { newItemId, nowSeconds, responseFromCompletion, type ResponseDraft } from './responses-output.ts';
import { checkResponsesRequest, ownInputItems, translateResponsesRequest, type ResponseItem } from './responses-request.ts';
import { createResponsesStream } from './responses-stream.ts';

// The Responses API on the one pipeline: `open` gives the request as it came
// (for targets that speak the API, see responses-native.ts), its Chat
// Completions translation (for the others), and a channel that answers in
// the Responses API's shapes and keeps the answer (store: true, OpenAI's
// default) for the conversation's next turn, which may then go to any
// target. Errors are OpenAI's own shape already and pass through as they are.

type Loose = Record<string, unknown>;

/** Conversations longer than this many turns are refused rather than walked. */
const maxChainLength = 1000;

export class ResponsesFrontDoor {
  private readonly store: ResponseStore;

  constructor(store: ResponseStore) {
    this.store = store;
  }

  async open(native: ClientRequest, tenant: string, client: ClientChannel): Promise<OpenedFrontDoor> {
    const body = native.body as Loose;
    checkResponsesRequest(body);
    const previousId = typeof body.previous_response_id === 'string' ? body.previous_response_id : undefined;
    const history = previousId !== undefined ? await this.conversation(tenant, previousId) : [];
    const references = await this.references(tenant, body.input);
    const own = ownInputItems(body, (id) => references.get(id)?.item);
    const store = body.store !== false;
    const keep = (response: Loose, input: ResponseItem[], heldBy?: string) => {
      if (store) void this.store.put(tenant, { response: response as StoredResponse['response'], input, ...(heldBy !== undefined ? { heldBy } : {}) });
    };

    let chat: Buffer | GatewayError;
    let codec: FrontDoorCodec;
    const nativeCodec = nativeResponsesCodec({ previousId, store, keep: (response, provider) => keep(response, own, provider) });
    try {
      const request = translateResponsesRequest(body, { history: history.map(({ item }) => item), resolveItem: (id) => references.get(id)?.item });
      chat = Buffer.from(JSON.stringify(request.chat));
      const draft: ResponseDraft = { id: newItemId('resp'), createdAt: nowSeconds(), echo: request.echo };
      const model = native.body.model as string;
      codec = {
        answer(status, answer) {
          if (status < 200 || status >= 300) return answer.toString();
          const response = responseFromCompletion(draft, parseJson(answer) as ChatCompletion, model);
          keep(response, request.input);
          return JSON.stringify(response);
        },
        stream: () => createResponsesStream({ draft, model, onComplete: (response) => keep(response, request.input) }),
        native: nativeCodec,
      };
    } catch (error) {
      // Not expressible as Chat Completions: only a target that speaks the Responses API can take it.
      if (!(error instanceof GatewayError)) throw error;
      chat = error;
      codec = { answer: (_status, answer) => answer.toString(), stream: () => untranslated, native: nativeCodec };
    }
    const continued = history.length > 0 || references.size > 0;
    // The client's own items go to every target as they came; those an item_reference named, as their turn's were kept.
    const ownItems: KeptItem[] = own.map((item, index) => {
      const reference = referenceAt(body.input, index);
      return reference === undefined ? { item, heldBy: undefined, own: true } : { item, heldBy: references.get(reference)?.heldBy };
    });
    return { native, nativeFor: continued ? spelledOutFor(native, [...history, ...ownItems]) : undefined, chat, channel: new FrontDoorChannel(client, codec) };
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

  /** The items of every turn up to and including `id`, oldest first, each with the provider that answered its turn natively. */
  private async conversation(tenant: string, id: string): Promise<KeptItem[]> {
    const turns: StoredResponse[] = [];
    let next: unknown = id;
    while (typeof next === 'string') {
      const stored = await this.store.get(tenant, next);
      if (!stored) throw new GatewayError('previous_response_not_found', `Previous response with id '${next}' not found.`, { param: 'previous_response_id' });
      turns.push(stored);
      if (turns.length > maxChainLength) throw new GatewayError('invalid_request', `The conversation before '${id}' is longer than ${maxChainLength} responses.`, { param: 'previous_response_id' });
      next = stored.response.previous_response_id;
    }
    return turns.reverse().flatMap((turn) => [...turn.input, ...turn.response.output].map((item) => ({ item, heldBy: turn.heldBy })));
  }

  /** The kept items that `item_reference` inputs name, looked up before the (synchronous) translation. */
  private async references(tenant: string, input: unknown): Promise<Map<string, StoredItem>> {
    const found = new Map<string, StoredItem>();
    if (!Array.isArray(input)) return found;
    for (const item of input as Loose[]) {
      if (item?.type !== 'item_reference' || typeof item.id !== 'string' || found.has(item.id)) continue;
      const kept = await this.store.item(tenant, item.id);
      if (kept) found.set(item.id, kept);
    }
    return found;
  }
}

/** A request that could not be translated was answered natively or not at all: a chat stream never comes for it. */
const untranslated = {
  chunk: () => '',
  finish: () => '',
  fail: () => '',
};

/** The id an item_reference at `index` of the input names, if the item there is one. */
function referenceAt(input: unknown, index: number): string | undefined {
  const item = Array.isArray(input) ? (input[index] as Loose | undefined) : undefined;
  return item?.type === 'item_reference' && typeof item.id === 'string' ? item.id : undefined;
}

function notFound(id: string): GatewayError {
  return new GatewayError('response_not_found', `Response with id '${id}' not found.`);
}
