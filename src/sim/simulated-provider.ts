// A simulated OpenAI-compatible provider with fault injection: the upstream of
// `switchyard sim`, the demo mode, end-to-end tests and benchmarks. Plain
// node:http and ready-made bodies keep it fast; a seeded draw (or a script)
// per request keeps it repeatable.

import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createExchange, pause, type Exchange } from './exchange.ts';
import { drawPlan, type Behaviour, type FaultPlan, type ScriptedBehaviour } from './fault-plan.ts';
import { createPrng } from './prng.ts';
import { isProblem, notJsonProblem, readChatRequest, readEmbeddingsRequest, type ChatRequest } from './read-request.ts';
import { createStats, remember, type RecordedRequest, type SimOutcome, type SimStats } from './request-log.ts';
import { sendCompletion, sendJson, sendRaw, sendStream } from './response-writers.ts';
import { resolveSimOptions, validateSimOptions, type SimFaults, type SimOptions } from './sim-options.ts';
import * as wire from './wire-format.ts';

export interface SimEvents {
  /** A request was read and its outcome decided (the answer may still be on its way). */
  request: [RecordedRequest];
  /** The client closed the connection before the answer was complete. */
  abort: [RecordedRequest];
}

export interface SimulatedProvider {
  readonly server: Server;
  readonly options: Readonly<SimOptions>;
  readonly stats: SimStats;
  /** The last 100 requests, oldest first. */
  readonly requests: RecordedRequest[];
  readonly events: EventEmitter<SimEvents>;
  /** Starts listening; `url` is the base URL with `/v1`, as an OpenAI SDK takes it. */
  listen(): Promise<{ url: string; port: number }>;
  /** Stops listening and destroys every open connection, hanging ones included. */
  close(): Promise<void>;
  /** Changes fault rates, latency, hold or pacing while running. */
  setFaults(faults: Partial<SimFaults>): void;
  /** Forces the behaviour of the next requests, one each, before any random draw. */
  script(behaviours: ScriptedBehaviour[]): void;
}

const behaviours: ReadonlySet<string> = new Set<Behaviour>(['ok', 'busy', 'rate_limited', 'hold', 'hang', 'drop', 'stall', 'malformed']);
const maxBodyBytes = 32 * 1024 * 1024;
const ignore = () => {};

type Render = (malformed: boolean) => string | string[];
type RouteHandler = (exchange: Exchange, record: RecordedRequest, body: unknown) => void;

export function createSimulatedProvider(partial: Partial<SimOptions> = {}): SimulatedProvider {
  let options = resolveSimOptions(partial);
  const prng = createPrng(options.seed);
  const stats = createStats();
  const requests: RecordedRequest[] = [];
  const events = new EventEmitter<SimEvents>();
  const queue: ScriptedBehaviour[] = [];
  const models = new Set(options.models);
  const modelsBody = wire.modelsListBody(options.models);
  const expectedAuthorization = options.apiKey === undefined ? undefined : `Bearer ${options.apiKey}`;
  const idName = options.name.replace(/[^A-Za-z0-9_-]/g, '-');
  const fingerprint = `fp_${options.name}`;
  const textPieces = wire.replyPieces(options.chunks);
  const jsonPieces = wire.jsonReplyPieces(textPieces);
  const templates = new Map<string, wire.ChatTemplate>();
  let sequence = 0;
  let closing = false;

  const routes: Record<string, { method: string; handle?: RouteHandler }> = {
    '/v1/chat/completions': { method: 'POST', handle: handleChat },
    '/v1/embeddings': { method: 'POST', handle: handleEmbeddings },
    '/v1/models': { method: 'GET' },
  };

  const server = createServer(handleRequest);

  function handleRequest(request: IncomingMessage, response: ServerResponse): void {
    stats.total++;
    const method = request.method ?? 'GET';
    const target = request.url ?? '/';
    const record: RecordedRequest = {
      method,
      path: target,
      headers: request.headers,
      body: undefined,
      receivedAt: Date.now(),
      outcome: undefined,
      aborted: false,
      abortedAt: undefined,
    };
    remember(requests, record);
    const exchange = createExchange(response, () => {
      if (closing) return; // our own shutdown, not the client leaving
      record.aborted = true;
      record.abortedAt = Date.now();
      events.emit('abort', record);
    });
    request.on('error', ignore);

    const queryStart = target.indexOf('?');
    const path = queryStart === -1 ? target : target.slice(0, queryStart);
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (!route) return answer(exchange, record, 'not_found', 404, wire.invalidUrlBody(method, path));
    if (method !== route.method) {
      return answer(exchange, record, 'method_not_allowed', 405, wire.invalidUrlBody(method, path), { allow: route.method });
    }
    if (expectedAuthorization !== undefined && request.headers.authorization !== expectedAuthorization) {
      return answer(exchange, record, 'unauthorized', 401, wire.invalidApiKeyBody(request.headers.authorization));
    }
    const handle = route.handle;
    // The model list is the health-check endpoint: never faulted.
    if (!handle) return answer(exchange, record, 'models', 200, modelsBody);

    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBodyBytes) chunks.push(chunk);
    });
    request.on('end', () => {
      if (exchange.closed) return;
      if (size > maxBodyBytes) {
        const body = wire.errorBody('The request body is too large.', 'invalid_request_error', null, null);
        return answer(exchange, record, 'bad_request', 413, body);
      }
      const text = chunks.length === 1 ? (chunks[0] as Buffer).toString() : Buffer.concat(chunks).toString();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return answer(exchange, record, 'bad_request', notJsonProblem.status, notJsonProblem.body);
      }
      record.body = body;
      try {
        handle(exchange, record, body);
      } catch {
        fail(exchange);
      }
    });
  }

  function handleChat(exchange: Exchange, record: RecordedRequest, body: unknown): void {
    const chat = readChatRequest(body, models);
    if (isProblem(chat)) return answer(exchange, record, chat.status === 404 ? 'not_found' : 'bad_request', chat.status, chat.body);
    serve(exchange, record, (malformed) => {
      const id = `chatcmpl-${idName}-${++sequence}`;
      const created = Math.floor(Date.now() / 1000);
      if (chat.toolName !== undefined) {
        const tool = {
          id,
          created,
          model: chat.model,
          fingerprint,
          callId: `call_${idName}_${sequence}`,
          toolName: chat.toolName,
          promptTokens: chat.promptTokens,
        };
        return markMalformed(chat.stream ? wire.toolCallEvents(tool, chat.includeUsage) : wire.toolCallCompletion(tool), malformed, id);
      }
      const template = templateFor(chat);
      if (chat.stream) return markMalformed(template.events(id, created, chat.promptTokens, chat.includeUsage), malformed, id);
      return malformed ? wire.malformedCompletionBody(id) : template.completion(id, created, chat.promptTokens);
    });
  }

  function handleEmbeddings(exchange: Exchange, record: RecordedRequest, body: unknown): void {
    const embeddings = readEmbeddingsRequest(body, models);
    if (isProblem(embeddings)) {
      return answer(exchange, record, embeddings.status === 404 ? 'not_found' : 'bad_request', embeddings.status, embeddings.body);
    }
    serve(exchange, record, (malformed) => {
      if (malformed) return '{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1';
      return wire.embeddingsBody(embeddings.model, embeddings.inputs.map(wire.embeddingVector), embeddings.promptTokens);
    });
  }

  function markMalformed(answer: string | string[], malformed: boolean, id: string): string | string[] {
    if (!malformed) return answer;
    if (typeof answer === 'string') return wire.malformedCompletionBody(id);
    answer[1] = wire.malformedStreamEvent(id); // the 2nd data event is not JSON
    return answer;
  }

  function templateFor(chat: ChatRequest): wire.ChatTemplate {
    if (chat.prefix !== undefined) {
      // A continuation: only the text after the prefix, never cached.
      return wire.createChatTemplate({ model: chat.model, fingerprint, pieces: wire.remainingPieces(chat.json ? jsonPieces : textPieces, chat.prefix) });
    }
    const key = `${chat.json ? 'json' : 'text'}:${chat.model}`;
    let template = templates.get(key);
    if (!template) {
      template = wire.createChatTemplate({ model: chat.model, fingerprint, pieces: chat.json ? jsonPieces : textPieces });
      templates.set(key, template);
    }
    return template;
  }

  // Decides the behaviour now (so the draw order is the request order), then answers after the latency.
  function serve(exchange: Exchange, record: RecordedRequest, render: Render): void {
    const plan = drawPlan(prng, options, queue.shift());
    const outcome: SimOutcome = typeof plan.behaviour === 'object' ? 'raw' : plan.behaviour;
    decide(record, outcome);
    if (plan.latencyMs > 0)
      guard(
        exchange,
        pause(exchange, plan.latencyMs).then(() => deliver(exchange, plan, render)),
      );
    else deliver(exchange, plan, render);
  }

  function deliver(exchange: Exchange, plan: FaultPlan, render: Render): void {
    const { response } = exchange;
    const behaviour = plan.behaviour;
    if (exchange.closed) return;
    if (typeof behaviour === 'object') return sendRaw(response, behaviour);
    if (behaviour === 'hang') return; // no headers, no body: only the client or close() ends it
    if (behaviour === 'busy') return sendJson(response, 503, wire.busyBody, retryAfterHeaders());
    if (behaviour === 'rate_limited') return sendJson(response, 429, wire.rateLimitedBody, rateLimitHeaders());
    const body = render(behaviour === 'malformed');
    const delivery = {
      holdMs: behaviour === 'hold' ? options.holdMs : 0,
      keepaliveIntervalMs: options.keepaliveIntervalMs,
      drop: behaviour === 'drop',
      stall: behaviour === 'stall',
    };
    if (typeof body === 'string') {
      if (delivery.holdMs === 0 && !delivery.drop && !delivery.stall) return sendJson(response, 200, body);
      return guard(exchange, sendCompletion(exchange, body, delivery));
    }
    // Never past the last content event: a dropped or stalled stream must not end cleanly.
    const eventsBeforeDrop = Math.min(1 + plan.chunksBeforeDrop, body.length - 2);
    guard(exchange, sendStream(exchange, body, { ...delivery, chunkIntervalMs: options.chunkIntervalMs, eventsBeforeDrop }));
  }

  function retryAfterHeaders(): OutgoingHttpHeaders {
    const seconds = options.retryAfterSeconds;
    // retry-after-ms lets a client (and a fast test) wait less than a whole second.
    return { 'retry-after': String(Math.ceil(seconds)), 'retry-after-ms': String(Math.round(seconds * 1000)) };
  }

  function rateLimitHeaders(): OutgoingHttpHeaders {
    return {
      ...retryAfterHeaders(),
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': `${options.retryAfterSeconds}s`,
    };
  }

  function answer(exchange: Exchange, record: RecordedRequest, outcome: SimOutcome, status: number, body: string, headers?: OutgoingHttpHeaders): void {
    decide(record, outcome);
    sendJson(exchange.response, status, body, headers);
  }

  function decide(record: RecordedRequest, outcome: SimOutcome): void {
    stats[outcome]++;
    record.outcome = outcome;
    events.emit('request', record);
  }

  return {
    server,
    get options() {
      return options;
    },
    stats,
    requests,
    events,
    listen() {
      closing = false;
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          const { port } = server.address() as AddressInfo;
          resolve({ port, url: `http://${hostForUrl(options.host)}:${port}/v1` });
        });
      });
    },
    close() {
      closing = true;
      if (!server.listening) return Promise.resolve();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    setFaults(faults) {
      const next = { ...options, ...faults };
      validateSimOptions(next);
      options = next;
    },
    script(list) {
      for (const item of list) {
        const valid = typeof item === 'string' ? behaviours.has(item) : Number.isInteger(item?.status) && item.status >= 100 && item.status <= 599;
        if (!valid) throw new Error(`script: not a behaviour or { status } answer: ${JSON.stringify(item)}`);
      }
      queue.push(...list);
    },
  };
}

// A failure inside the simulator must never crash the process running it.
function guard(exchange: Exchange, sending: Promise<void>): void {
  sending.catch(() => fail(exchange));
}

function fail(exchange: Exchange): void {
  if (exchange.closed) return;
  if (!exchange.response.headersSent) sendJson(exchange.response, 500, wire.errorBody('Simulator failure.', 'server_error', null, null));
  else exchange.response.destroy();
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
