// Small client helpers for the simulator's own tests: start one on port 0,
// post JSON, read a body that may be cut, split SSE framing.

import type { TestContext } from 'node:test';
import type OpenAI from 'openai';
import { createSimulatedProvider, type SimulatedProvider } from './simulated-provider.ts';
import type { SimOptions } from './sim-options.ts';

export async function startSim(context: TestContext, options: Partial<SimOptions> = {}): Promise<{ sim: SimulatedProvider; url: string }> {
  const sim = createSimulatedProvider({ port: 0, ...options });
  const { url } = await sim.listen();
  context.after(() => sim.close());
  return { sim, url };
}

export const hello = { model: 'sim-small', messages: [{ role: 'user', content: 'Hello there, simulator!' }] };

export function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: text, signal });
}

/** Reads a body to its end or to the cut, keeping what arrived before a failure. */
export async function readUntilEnd(response: Response): Promise<{ text: string; error: unknown }> {
  const decoder = new TextDecoder();
  let text = '';
  try {
    for await (const chunk of response.body as ReadableStream<Uint8Array>) text += decoder.decode(chunk, { stream: true });
    return { text, error: undefined };
  } catch (error) {
    return { text, error };
  }
}

/** The `data:` payloads of an SSE text, in order; comments are skipped. */
export function ssePayloads(text: string): string[] {
  return text
    .split('\n\n')
    .filter((event) => event.startsWith('data: '))
    .map((event) => event.slice('data: '.length));
}

export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** A body read as the official SDK's type says it should look; assertions check the rest. */
export async function readJson<T>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

export type ChatCompletion = OpenAI.ChatCompletion;
export type Embeddings = OpenAI.CreateEmbeddingResponse;
