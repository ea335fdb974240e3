import OpenAI from 'openai';
import { createPrng } from '../../src/sim/prng.ts';
import { appKey, nthRequest, type ChaosRequest } from './scenario.ts';

// The application: the official OpenAI SDK with its defaults (maxRetries 2),
// `concurrency` callers each sending one chat completion after another,
// streamed or not, until told to stop. Every HTTP exchange the SDK makes is
// recorded through its `fetch` option (status, the gateway's error header,
// which replicas nginx tried), so a request that failed after the SDK's
// retries can be explained, and one the retries rescued is seen too.

export interface Exchange {
  /** ms since the drill started, when the response headers (or the failure) came. */
  at: number;
  status?: number;
  /** A transport failure before any response (client ↔ nginx). */
  error?: string;
  /** nginx's $upstream_addr: the replicas tried, in order. */
  upstream?: string;
  upstreamStatus?: string;
  switchyardError?: string;
  server?: string;
}

export interface RequestRecord {
  index: number;
  stream: boolean;
  startedAt: number;
  endedAt: number;
  ok: boolean;
  /** The SDK's HTTP exchanges for this call (1 + its retries). */
  exchanges: Exchange[];
  /** x-switchyard-attempts of the answer the application got: upstream attempts the gateway made. */
  gatewayAttempts?: number;
  cache?: string;
  /** Content chunks received (streams), before a failure if any. */
  chunks: number;
  failure?: { cause: string; message: string };
}

const header = (headers: Headers, name: string) => headers.get(name) ?? undefined;

/**
 * Why an HTTP answer was an error: the gateway's own code when it made the
 * answer; for nginx's own answers, whether no replica was left to try (every
 * one marked failed: $upstream_addr is then the group's name) or the replica
 * it tried cut the connection.
 */
export function answerCause(exchange: Pick<Exchange, 'status' | 'switchyardError' | 'server' | 'upstream'>): string {
  if (exchange.switchyardError) return `gateway ${exchange.status} ${exchange.switchyardError}`;
  if (!(exchange.server ?? '').startsWith('nginx')) return `HTTP ${exchange.status}`;
  const tried = (exchange.upstream ?? '').split(', ');
  return tried.at(-1)?.includes(':') ? `nginx ${exchange.status}: the replica cut the connection` : `nginx ${exchange.status}: no live upstream`;
}

/** What the application saw, in words an operator would use. */
export function classify(error: unknown, phase: 'request' | 'stream'): string {
  if (error instanceof OpenAI.APIConnectionTimeoutError) return 'client timeout';
  if (error instanceof OpenAI.APIConnectionError) return 'connection error (client to nginx)';
  if (error instanceof OpenAI.APIError) {
    if (error.status === undefined) {
      const code = (error.error as { code?: string } | undefined)?.code;
      return `stream error event (${code ?? error.message})`;
    }
    return answerCause({
      status: error.status,
      switchyardError: error.headers?.get('x-switchyard-error') ?? undefined,
      server: error.headers?.get('server') ?? undefined,
      upstream: error.headers?.get('x-chaos-upstream') ?? undefined,
    });
  }
  const message = error instanceof Error ? `${error.message}${error.cause instanceof Error ? `: ${error.cause.message}` : ''}` : String(error);
  return phase === 'stream' ? `stream cut (${message})` : `other (${message})`;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (cause: ${(error.cause as NodeJS.ErrnoException).code ?? ''} ${error.cause.message})` : '';
  return `${error.constructor.name}: ${error.message}${cause}`.slice(0, 300);
}

export interface Traffic {
  readonly records: RequestRecord[];
  /** Stops starting requests; resolves when those in flight are done (or cut after `graceMs`). */
  stop(graceMs: number): Promise<void>;
}

export function startTraffic(options: { baseURL: string; concurrency: number; seed: number; now: () => number }): Traffic {
  const exchanges = new Map<string, Exchange[]>();
  const recordingFetch: typeof fetch = async (input, init) => {
    const tag = new Headers(init?.headers).get('x-chaos-request') ?? '';
    const list = exchanges.get(tag);
    try {
      const response = await fetch(input, init);
      const headers = response.headers;
      list?.push({
        at: options.now(),
        status: response.status,
        upstream: header(headers, 'x-chaos-upstream'),
        upstreamStatus: header(headers, 'x-chaos-upstream-status'),
        switchyardError: header(headers, 'x-switchyard-error'),
        server: header(headers, 'server'),
      });
      return response;
    } catch (error) {
      list?.push({ at: options.now(), error: describe(error) });
      throw error;
    }
  };
  // The application's code: SDK defaults (maxRetries 2, 10-minute timeout), only baseURL and key set.
  const client = new OpenAI({ baseURL: options.baseURL, apiKey: appKey, fetch: recordingFetch });
  const records: RequestRecord[] = [];
  const prng = createPrng(options.seed);
  const stopping = new AbortController();
  let stopRequested = false;
  let next = 0;

  const send = async (request: ChaosRequest, index: number): Promise<RequestRecord> => {
    const tag = String(index);
    const list: Exchange[] = [];
    exchanges.set(tag, list);
    const record: RequestRecord = { index, stream: request.stream, startedAt: options.now(), endedAt: 0, ok: false, exchanges: list, chunks: 0 };
    const requestOptions = { headers: { 'x-chaos-request': tag }, signal: stopping.signal };
    let phase: 'request' | 'stream' = 'request';
    try {
      if (request.stream) {
        const { data, response } = await client.chat.completions.create({ ...request.body, stream: true }, requestOptions).withResponse();
        phase = 'stream';
        record.gatewayAttempts = Number(response.headers.get('x-switchyard-attempts') ?? NaN);
        record.cache = response.headers.get('x-switchyard-cache') ?? undefined;
        let finished = false;
        for await (const chunk of data) {
          if (chunk.choices[0]?.delta.content) record.chunks += 1;
          if (chunk.choices[0]?.finish_reason) finished = true;
        }
        record.ok = finished && record.chunks > 0;
        if (!record.ok) record.failure = { cause: 'stream ended without finish_reason', message: `${record.chunks} chunks` };
      } else {
        const { data, response } = await client.chat.completions.create(request.body, requestOptions).withResponse();
        record.gatewayAttempts = Number(response.headers.get('x-switchyard-attempts') ?? NaN);
        record.cache = response.headers.get('x-switchyard-cache') ?? undefined;
        record.ok = typeof data.choices[0]?.message.content === 'string' && data.choices[0].message.content.length > 0;
        if (!record.ok) record.failure = { cause: 'empty answer', message: JSON.stringify(data).slice(0, 200) };
      }
    } catch (error) {
      record.ok = false;
      record.failure = stopping.signal.aborted
        ? { cause: 'still running at the end (aborted)', message: describe(error) }
        : { cause: classify(error, phase), message: describe(error) };
    }
    record.endedAt = options.now();
    exchanges.delete(tag);
    return record;
  };

  const worker = async () => {
    while (!stopping.signal.aborted && !stopRequested) {
      const index = next++;
      records.push(await send(nthRequest(index, prng.next), index));
    }
  };
  const workers = Promise.all(Array.from({ length: options.concurrency }, worker));

  return {
    records,
    async stop(graceMs) {
      stopRequested = true;
      const cut = setTimeout(() => stopping.abort(new Error('the drill ended')), graceMs);
      await workers;
      clearTimeout(cut);
    },
  };
}
