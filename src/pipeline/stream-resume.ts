import type { GatewayError } from '../errors/gateway-error.ts';
import type { Route, Target } from '../routing/route-table.ts';
import type { ExecutorParts } from './executor.ts';
import type { GatewayRequest, RequestRecord } from './gateway-request.ts';
import type { ResumeStream } from './stream-relay.ts';
import type { Transcript } from './transcript.ts';
import type { Cancellation } from '../resilience/cancellation.ts';
import { runAttempt, type OpenStream } from './upstream-attempt.ts';

// Continues a stream cut after content on another target that can complete
// from an assistant prefix: DeepSeek's chat prefix completion (`prefix: true`
// on a last assistant message, served under its /beta base URL) or vLLM's
// `continue_final_message`. The continuation carries only new text, so the
// client's answer reads as one, with nothing repeated.

export interface ResumeOptions {
  parts: ExecutorParts;
  route: Route;
  request: GatewayRequest;
  record: RequestRecord;
  candidates: readonly Target[];
  failed: Target;
  /** The request's cancellation. */
  cancel: Cancellation;
  deadline: number;
}

export function createResume(options: ResumeOptions): ResumeStream | undefined {
  if (!options.route.config.stream_resume) return undefined;
  const tried = new Set<Target>([options.failed]);
  let current = options.failed;
  return async (failure: GatewayError, transcript: Transcript): Promise<OpenStream | undefined> => {
    const { parts, record } = options;
    record.failures.push(failure.code);
    parts.metrics.countAttempt(current.provider.name, failure.code);
    parts.status.recordFailure(current, failure);
    for (const target of options.candidates) {
      if (tried.has(target) || !target.config.resume || !parts.status.isAvailable(target)) continue;
      const remaining = options.deadline - performance.now();
      if (remaining <= 0 || options.cancel.aborted) return undefined;
      tried.add(target);
      record.attempts += 1;
      try {
        const request = continuation(options.request, transcript.text, target.config.resume);
        const result = await runAttempt({ target, request, cancel: options.cancel.child(), firstTokenTimeoutMs: Math.min(options.route.config.timeouts.first_token, remaining), transcript: true, redactor: options.parts.redactor });
        if (result.kind !== 'stream') continue;
        parts.metrics.countAttempt(target.provider.name, 'ok');
        current = target;
        record.provider = target.provider.name;
        record.model = target.model;
        const stream = result.stream;
        if (stream.transcript) stream.transcript.text = transcript.text + stream.transcript.text;
        stream.head = stream.head.filter((event) => !isRoleOnly(event));
        return stream;
      } catch (error) {
        const attemptFailure = error as GatewayError;
        record.failures.push(attemptFailure.code ?? 'internal_error');
        parts.metrics.countAttempt(target.provider.name, attemptFailure.code ?? 'internal_error');
        if (attemptFailure.code) parts.status.recordFailure(target, attemptFailure);
      }
    }
    return undefined;
  };
}

function continuation(request: GatewayRequest, text: string, style: 'prefix' | 'continue_final_message'): GatewayRequest {
  const body = request.client.body;
  const messages = [...(body.messages as unknown[]), style === 'prefix' ? { role: 'assistant', content: text, prefix: true } : { role: 'assistant', content: text }];
  const next: Record<string, unknown> = { ...body, messages };
  if (style === 'continue_final_message') Object.assign(next, { continue_final_message: true, add_generation_prompt: false });
  return { ...request, client: { ...request.client, raw: Buffer.from(JSON.stringify(next)), body: next, modelRange: undefined } };
}

/** The opening `{"role":"assistant","content":""}` chunk: the client already had one. */
function isRoleOnly(event: Buffer): boolean {
  return event.includes('"delta":{"role":"assistant","content":""}') || event.includes('"delta":{"role":"assistant"}');
}
