import { GatewayError } from '../errors/gateway-error.ts';
import type { ClientChannel } from './client-channel.ts';
import type { OpenStream } from './upstream-attempt.ts';

// Copies a committed stream to the client, batch by batch, waiting whenever
// the client's socket is full so a slow reader slows the upstream instead of
// growing our memory. An upstream failure after content ends the stream with
// an OpenAI-style error event and no [DONE], so the SDK raises instead of
// taking a cut-short answer for a whole one.

export type RelayOutcome = { kind: 'complete' } | { kind: 'client_gone' } | { kind: 'upstream_failed'; error: GatewayError };

export async function relayStream(stream: OpenStream, channel: ClientChannel, headers: Record<string, string>): Promise<RelayOutcome> {
  channel.startStream(headers);
  try {
    let batch: Buffer[] | null = stream.head;
    while (batch !== null) {
      const chunk = batch.length === 1 ? batch[0]! : Buffer.concat(batch);
      if (!channel.write(chunk)) await channel.drained();
      if (channel.signal.aborted) return { kind: 'client_gone' };
      batch = await stream.next();
    }
    return { kind: 'complete' };
  } catch (error) {
    if (channel.signal.aborted) return { kind: 'client_gone' };
    const failure = error instanceof GatewayError ? error : new GatewayError('internal_error', 'the stream failed', { cause: error });
    channel.write(`data: ${JSON.stringify(failure.toJSON())}\n\n`);
    return { kind: 'upstream_failed', error: failure };
  } finally {
    stream.close();
    channel.end();
  }
}
