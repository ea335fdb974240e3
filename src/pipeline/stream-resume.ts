import type { TargetConfig } from '../config/schema.ts';
import type { GatewayError } from '../errors/gateway-error.ts';
import type { Target } from '../routing/route-table.ts';
import type { Cancellation } from '../resilience/cancellation.ts';
import { AttemptGuard, guardContext, isRefusal } from './attempt-guard.ts';
import { chatRequest, type GatewayRequest } from './gateway-request.ts';
import type { RequestContext } from './request-context.ts';
import type { ResumeStream } from './stream-relay.ts';
import type { Transcript } from './transcript.ts';
import { runAttempt, type OpenStream } from './upstream-attempt.ts';

// Continues a stream cut after content on another target that can complete
// from an assistant prefix: DeepSeek's chat prefix completion (`prefix: true`
// on a last assistant message, served under its /beta base URL) or vLLM's
// `continue_final_message`. The continuation carries only new text, so the
// client's answer reads as one, with nothing repeated. Each continuation is
// an attempt like any other: through its guard (rate limit, breaker, retry budget).

export interface ResumeOptions {
  c: RequestContext;
  candidates: readonly Target[];
  /** The guard of the attempt whose stream was cut. */
  failed: AttemptGuard;
  /** The request's cancellation. */
  cancel: Cancellation;
}

export function createResume(options: ResumeOptions): ResumeStream | undefined {
  const { c } = options;
  const route = c.route!;
  if (!route.config.stream_resume) return undefined;
  const { engine, record } = c;
  const guards = guardContext(engine, record);
  const tried = new Set<Target>([options.failed.target]);
  let current = options.failed;
  return async (failure: GatewayError, transcript: Transcript): Promise<OpenStream | undefined> => {
    current.failedAfterContent(failure);
    for (const target of options.candidates) {
      if (tried.has(target) || !target.config.resume || !engine.status.isAvailable(target)) continue;
      const remaining = c.deadline - engine.clock.now();
      if (remaining <= 0 || options.cancel.aborted) return undefined;
      tried.add(target);
      const guard = AttemptGuard.open(guards, target, 'resume');
      if (isRefusal(guard)) continue;
      try {
        const request = continuation(c.request!, transcript.text, target.config.resume);
        const result = await runAttempt({
          target,
          request,
          cancel: options.cancel.child(),
          clock: engine.clock,
          firstTokenTimeoutMs: Math.min(route.config.timeouts.first_token, remaining),
          idleTimeoutMs: route.config.timeouts.idle,
          transcript: true,
          redactor: engine.redactor,
        });
        if (result.kind !== 'stream') {
          guard.abandoned();
          continue;
        }
        guard.succeeded();
        current = guard;
        record.provider = target.provider.name;
        record.model = target.model;
        const stream = result.stream;
        if (stream.transcript) stream.transcript.text = transcript.text + stream.transcript.text;
        stream.head = stream.head.filter((event) => !isRoleOnly(event));
        return stream;
      } catch (error) {
        if (options.cancel.aborted) guard.abandoned();
        else guard.failed(error as GatewayError);
      }
    }
    return undefined;
  };
}

/** The request with the text so far as its last assistant message: Chat Completions, also for a front door's (only translated streams keep a transcript). */
function continuation(request: GatewayRequest, text: string, style: NonNullable<TargetConfig['resume']>): GatewayRequest {
  const chat = chatRequest(request)!;
  const body = chat.body;
  const messages = [
    ...(body.messages as unknown[]),
    style === 'prefix' ? { role: 'assistant', content: text, prefix: true } : { role: 'assistant', content: text },
  ];
  const next: Record<string, unknown> = { ...body, messages };
  if (style === 'continue_final_message') Object.assign(next, { continue_final_message: true, add_generation_prompt: false });
  return {
    ...request,
    client: { ...chat, raw: Buffer.from(JSON.stringify(next)), body: next, modelRange: undefined },
    translate: undefined,
    nativeFor: undefined,
  };
}

/** The opening `{"role":"assistant","content":""}` chunk: the client already had one. */
function isRoleOnly(event: Buffer): boolean {
  return event.includes('"delta":{"role":"assistant","content":""}') || event.includes('"delta":{"role":"assistant"}');
}
