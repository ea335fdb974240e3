import type { Usage } from '../providers/provider-spec.ts';
import type { Target } from '../routing/route-table.ts';
import type { RequestContext } from './request-context.ts';
import { responseHeaders } from './response-headers.ts';
import { createResume } from './stream-resume.ts';
import { relayStream } from './stream-relay.ts';
import type { OpenStream } from './upstream-stream.ts';

// Delivery: the winning attempt's answer to the client, whole or streamed,
// then what the gateway learns from it (the attempt's success, the tokens and
// their cost). A stream that fails after content is counted against its
// target here, unless a resume took it over.

export function deliverStage(c: RequestContext): Promise<void> | undefined {
  const { record } = c;
  const { guard, result } = c.winner!;
  const target = guard.target;
  record.provider = target.provider.name;
  record.model = target.model;
  record.served = target.headerNames;
  record.firstTokenMs = result.firstTokenAt - c.receivedAt;
  record.attemptFirstTokenMs = result.firstTokenAt - guard.startedAt;
  record.status = 200;
  if (result.kind === 'json') {
    record.usage = result.usage;
    charge(c, target);
    // The answer first, then what the gateway learns from it.
    c.channel.sendJson(200, responseHeaders(c), result.body, result.native);
    record.delivered = 'whole';
    guard.succeeded(result.firstTokenAt);
    return undefined;
  }
  guard.succeeded(result.firstTokenAt);
  return deliverStream(c, result.stream, target);
}

async function deliverStream(c: RequestContext, stream: OpenStream, target: Target): Promise<void> {
  const { engine, record } = c;
  const { guard, candidates, cancel } = c.winner!;
  const resume = createResume({ c, candidates, failed: guard, cancel });
  const outcome = await relayStream(stream, c.channel, responseHeaders(c), engine.redactor, resume);
  record.usage = stream.usage();
  charge(c, target);
  if (outcome.kind === 'complete') record.delivered = 'whole';
  if (outcome.kind === 'client_gone') record.clientGone = true;
  // A failure handed to resume was accounted there, against the target that failed.
  if (outcome.kind === 'upstream_failed' && !outcome.triedResume) guard.failedAfterContent(outcome.error);
}

/** The answer's cost, on the record and against its route's budget. */
function charge(c: RequestContext, target: Target): void {
  const record = c.record;
  record.costUsd = costOf(target, record.usage);
  if (record.costUsd !== undefined && record.route !== undefined) c.engine.spend.add(record.route, record.costUsd);
}

/** Tokens at the provider's configured `price` (USD per 1,000 tokens), when both are known. */
function costOf(target: Target, usage: Usage | undefined): number | undefined {
  const price = target.provider.config.price;
  if (!price || !usage) return undefined;
  return (usage.inputTokens * price.input_per_1k + usage.outputTokens * price.output_per_1k) / 1000;
}
