import { GatewayError } from '../errors/gateway-error.ts';
import type { ClientChannel } from '../pipeline/client-channel.ts';
import type { OpenedFrontDoor } from '../pipeline/request-context.ts';
import type { ClientRequest } from '../providers/provider-spec.ts';
import { parseJson, type ChatCompletion } from './chat-wire.ts';
import { FrontDoorChannel, type FrontDoorCodec } from './front-door-channel.ts';
import { HeldChannel } from './held-channel.ts';
import type { ResponseStore, StoredItem, StoredResponse } from './response-store.ts';
import { nativeResponsesCodec, spelledOutFor, type KeptItem } from './responses-native.ts';
import { newItemId, nowSeconds, responseFromCompletion, type ResponseDraft } from './responses-output.ts';
import { checkResponsesRequest, ownInputItems, translateResponsesRequest, type ResponsesRequest } from './responses-request.ts';
import { createResponsesStream } from './responses-stream.ts';
import { echoed } from '../errors/echo.ts';

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
    // The answer is kept before the client sees its end, so its next turn finds it on any replica.
    const held = new HeldChannel(client);
    /** Keeps a finished Response with this turn's own input; `heldBy` when the provider answered natively. */
    const keep = (response: Loose, heldBy?: string) => {
      if (store)
        held.holdUntil(this.store.put(tenant, { response: response as StoredResponse['response'], input: own, ...(heldBy !== undefined ? { heldBy } : {}) }));
    };

    // The translation is made only when a target that does not speak the Responses API is tried.
    let translation: ResponsesRequest | GatewayError | undefined;
    const translate = (): ResponsesRequest | GatewayError => {
      if (translation !== undefined) return translation;
      try {
        translation = translateResponsesRequest(body, { history: history.map(({ item }) => item), resolveItem: (id) => references.get(id)?.item });
      } catch (error) {
        // Not expressible as Chat Completions: only a target that speaks the Responses API can take it.
        if (!(error instanceof GatewayError)) throw error;
        translation = error;
      }
      return translation;
    };
    const chat = (): Buffer | GatewayError => {
      const translated = translate();
      return translated instanceof GatewayError ? translated : Buffer.from(JSON.stringify(translated.chat));
    };
    // Only an answer from a target that got the translation is translated back, so there is one by then.
    const translated = () => translate() as ResponsesRequest;
    const createdAt = nowSeconds();
    let draft: ResponseDraft | undefined;
    const draftOf = (): ResponseDraft => (draft ??= { id: newItemId('resp'), createdAt, echo: translated().echo });
    const model = body.model as string;
    const codec: FrontDoorCodec = {
      answer(status, answer) {
        if (status < 200 || status >= 300) return answer.toString();
        const response = responseFromCompletion(draftOf(), parseJson(answer) as ChatCompletion, model);
        keep(response);
        return JSON.stringify(response);
      },
      stream: () => createResponsesStream({ draft: draftOf(), model, onComplete: (response) => keep(response) }),
      native: nativeResponsesCodec({ previousId, store, keep }),
    };
    const continued = history.length > 0 || references.size > 0;
    // The client's own items go to every target as they came; those an item_reference named, as their turn's were kept.
    const ownItems: KeptItem[] = own.map((item, index) => {
      const reference = referenceAt(body.input, index);
      return reference === undefined ? { item, heldBy: undefined, own: true } : { item, heldBy: references.get(reference)?.heldBy };
    });
    return { native, nativeFor: continued ? spelledOutFor(native, [...history, ...ownItems]) : undefined, chat, channel: new FrontDoorChannel(held, codec) };
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
    throw new GatewayError(
      'invalid_request',
      `Cannot cancel response '${echoed(id)}': only responses created with background=true can be cancelled, and this one has already finished.`,
    );
  }

  /** The items of every turn up to and including `id`, oldest first, each with the provider that answered its turn natively. */
  private async conversation(tenant: string, id: string): Promise<KeptItem[]> {
    const turns: StoredResponse[] = [];
    let next: unknown = id;
    while (typeof next === 'string') {
      const stored = await this.store.get(tenant, next);
      if (!stored)
        throw new GatewayError('previous_response_not_found', `Previous response with id '${echoed(next)}' not found.`, { param: 'previous_response_id' });
      turns.push(stored);
      if (turns.length > maxChainLength)
        throw new GatewayError('invalid_request', `The conversation before '${echoed(id)}' is longer than ${maxChainLength} responses.`, {
          param: 'previous_response_id',
        });
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

/** The id an item_reference at `index` of the input names, if the item there is one. */
function referenceAt(input: unknown, index: number): string | undefined {
  const item = Array.isArray(input) ? (input[index] as Loose | undefined) : undefined;
  return item?.type === 'item_reference' && typeof item.id === 'string' ? item.id : undefined;
}

function notFound(id: string): GatewayError {
  return new GatewayError('response_not_found', `Response with id '${echoed(id)}' not found.`);
}
