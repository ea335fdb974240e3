import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayError } from '../errors/gateway-error.ts';
import type { ClientRequest, Operation } from '../providers/provider-spec.ts';
import type { Cancellation } from '../resilience/cancellation.ts';
import type { Route } from '../routing/route-table.ts';
import type { KeyEntry } from './authenticate.ts';
import type { ClientChannel } from './client-channel.ts';
import type { Engine } from './engine.ts';
import type { GatewayRequest, RequestRecord } from './gateway-request.ts';
import type { Winner } from './attempt-stage.ts';

// The one object a request carries down the pipeline (request-pipeline.ts):
// what came in, what each stage has learnt so far, and what happened. Stages
// read what the stages before them set; nothing else holds per-request state.

/** A request's body, read by the pipeline after the caller is known (so a refused key costs no upload). */
export interface BodySource {
  /** The whole body; rejects with body_too_large past `limit` bytes, or when the client goes away mid-upload. */
  read(limit: number): Promise<Buffer>;
}

/**
 * An API other than Chat Completions (the Responses API, Anthropic's
 * Messages) as a codec at the edge of the one pipeline: once the caller is
 * known and the body read, it gives the request in its own API (passed
 * through to targets that speak it), its Chat Completions translation (for
 * the others), and the channel that answers in its own shapes.
 */
export interface FrontDoor {
  /** The client's headers as the gateway reads them (Anthropic's SDK sends its key as `x-api-key`). */
  headers?(headers: IncomingHttpHeaders): IncomingHttpHeaders;
  /** A channel that answers errors in the front door's shape, for failures before the request is opened. */
  errors?(client: ClientChannel): ClientChannel;
  open(raw: Buffer, context: { tenant: string; client: ClientChannel; maxJsonDepth: number; headers: IncomingHttpHeaders }): Promise<OpenedFrontDoor>;
}

export interface OpenedFrontDoor {
  /** The request in the front door's own API (operation `responses` or `messages`). */
  native: ClientRequest;
  /** The body a target of `provider` that speaks the API gets, when not `native` itself (a conversation spelled out). */
  nativeFor?: (provider: string) => ClientRequest;
  /** The Chat Completions body for the other targets, or the 400 that says why the request cannot be one; asked for only when needed. */
  chat: () => Buffer | GatewayError;
  /** The channel that answers the client in the front door's shapes. */
  channel: ClientChannel;
}

/** What a caller of Gateway.serve gives: the HTTP server, or the batch runner. */
export interface ServeInput {
  operation: Operation;
  headers: IncomingHttpHeaders;
  body: BodySource | Buffer;
  /** Where the answer goes (for a front door, one that already answers errors in its shape). */
  channel: ClientChannel;
  frontDoor?: FrontDoor;
  /** Set for a batch line: it runs as the key that created the batch, and no Authorization header is read. */
  caller?: { key: KeyEntry | undefined };
}

export interface RequestContext {
  /** The gateway's parts of one config generation, kept for the request's whole life. */
  readonly engine: Engine;
  readonly id: string;
  /** performance.now() when the request arrived. */
  readonly receivedAt: number;
  readonly input: ServeInput;
  /** Where the answer goes; the cache stage puts a recording channel in front to keep a copy. */
  channel: ClientChannel;
  readonly record: RequestRecord;
  /** Aborted when the gateway must stop this request (a drain that ran out of time): a stream then ends with an error event. */
  readonly interrupt: Cancellation;
  /** authenticate: the caller's key, undefined when auth is off. */
  key: KeyEntry | undefined;
  /** read body: the body's bytes. */
  raw: Buffer | undefined;
  /** front door: the request in its own API and as Chat Completions. */
  opened: OpenedFrontDoor | undefined;
  /** parse: the request as the gateway acts on it. */
  request: GatewayRequest | undefined;
  /** route: the route the model names. */
  route: Route | undefined;
  /** route: when the request must be answered by (performance.now() time). */
  deadline: number;
  /** attempts: the attempt that produced a first token, for delivery. */
  winner: Winner | undefined;
}

/** Runs the stages after this one; a stage that ends the request early throws a GatewayError instead. */
export type Next = () => Promise<void>;

/** One step of the walk: code before `await next()` runs on the way in, after it on the way out (Hono's compose). */
export type Stage = (c: RequestContext, next: Next) => Promise<void> | void;
