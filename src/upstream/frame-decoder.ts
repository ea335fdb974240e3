import type { ProviderAdapter, StreamEvent } from '../providers/provider-spec.ts';
import { AwsEventStreamDecoder } from './aws-eventstream-decoder.ts';
import { SseSplitter, hasData, parseEvent } from './sse-splitter.ts';

// Turns an upstream stream's bytes into StreamEvents for adapters that
// translate. One decoder per framing; adapters never see bytes or framing.

export interface FrameDecoder {
  push(chunk: Buffer): StreamEvent[];
  /** Bytes of a frame not yet complete. */
  readonly buffered: number;
}

class SseDecoder implements FrameDecoder {
  private readonly splitter = new SseSplitter();
  push(chunk: Buffer): StreamEvent[] {
    const events: StreamEvent[] = [];
    for (const event of this.splitter.push(chunk)) if (hasData(event)) events.push(parseEvent(event));
    return events;
  }
  get buffered(): number {
    return this.splitter.buffered;
  }
}

const decoders: Record<ProviderAdapter['streamFraming'], (() => FrameDecoder) | undefined> = {
  sse: () => new SseDecoder(),
  'aws-eventstream': () => new AwsEventStreamDecoder(),
};

export function createFrameDecoder(framing: ProviderAdapter['streamFraming']): FrameDecoder {
  const make = decoders[framing];
  if (!make) throw new Error(`no decoder for ${framing} streams`);
  return make();
}
