import { GatewayError } from '../errors/gateway-error.ts';
import type { SecretRedactor } from '../errors/redact-secrets.ts';
import type { ClientChannel } from './client-channel.ts';
import type { Transcript } from './transcript.ts';
import type { OpenStream } from './upstream-attempt.ts';

// Copies a committed stream to the client, batch by batch, waiting whenever
// the client's socket is full so a slow reader slows the upstream instead of
// growing our memory. An upstream failure after content ends the stream with
// an OpenAI-style error event and no [DONE], so the SDK raises instead of
// taking a cut-short answer for a whole one — unless the route may resume it
// on another target, in which case the continuation is spliced in.

export type RelayOutcome =
  { kind: 'complete'; resumed: number } | { kind: 'client_gone' } | { kind: 'upstream_failed'; error: GatewayError; triedResume: boolean };

/** A continuation of the stream elsewhere, or undefined when none can be had. */
export type ResumeStream = (failure: GatewayError, transcript: Transcript) => Promise<OpenStream | undefined>;

export async function relayStream(
  stream: OpenStream,
  channel: ClientChannel,
  headers: Record<string, string>,
  redactor: SecretRedactor,
  resume?: ResumeStream,
): Promise<RelayOutcome> {
  channel.startStream(headers, stream.native);
  let current = stream;
  let resumed = 0;
  try {
    let batch: Buffer[] | null = current.head;
    for (;;) {
      try {
        while (batch !== null) {
          const chunk = batch.length === 1 ? batch[0]! : Buffer.concat(batch);
          if (!channel.write(chunk)) await channel.drained();
          if (channel.gone.aborted) return { kind: 'client_gone' };
          batch = await current.next();
        }
        return { kind: 'complete', resumed };
      } catch (error) {
        if (channel.gone.aborted) return { kind: 'client_gone' };
        const failure = error instanceof GatewayError ? error : new GatewayError('internal_error', 'the stream failed', { cause: error });
        const transcript = current.transcript;
        const triedResume = resume !== undefined && transcript?.resumable === true;
        const next = triedResume ? await resume(failure, transcript) : undefined;
        if (!next) {
          const json = failure.toJSON();
          json.error.message = redactor.redact(json.error.message);
          channel.write(`data: ${JSON.stringify(json)}\n\n`);
          return { kind: 'upstream_failed', error: failure, triedResume };
        }
        current.close();
        current = next;
        resumed += 1;
        batch = next.head;
      }
    }
  } finally {
    current.close();
    channel.end();
  }
}
