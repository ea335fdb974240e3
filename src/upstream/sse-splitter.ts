import { GatewayError } from '../errors/gateway-error.ts';
import { ByteAccumulator } from './byte-accumulator.ts';

// Cuts an upstream byte stream into whole SSE events (each ending with its
// blank line), so that what reaches the client is always whole events: when
// an upstream dies mid-event, the half event is dropped, not forwarded.
//
// Written by hand because the gateway forwards the upstream's bytes rather
// than re-encoding parsed events (the SSE parsers on npm hand back strings),
// and it must hold any byte stream to linear time and bounded memory: each
// byte is looked at once, however the stream is cut, and an event that grows
// past `maxEventBytes` without ending is an `upstream_malformed` failure
// instead of a buffer that grows until the deadline.
//
// Lines end in LF, CRLF or a bare CR, as the SSE spec allows. An event framed
// with LF only (what providers send) comes out as the very bytes that came, a
// subarray of the input when it arrived in one chunk; an event with a CR in
// its framing comes out with LF line ends, so it reads the same however the
// stream was cut (a CRLF may fall across two chunks).

const LF = 0x0a;
const CR = 0x0d;

/** 8 MiB: far above any chat chunk, room for a streamed partial image. */
export const defaultMaxEventBytes = 8 * 1024 * 1024;

export class SseSplitter {
  private readonly maxEventBytes: number;
  /** Earlier chunks' bytes of the event in progress. */
  private readonly pending: ByteAccumulator;
  /** Between events: blank lines here dispatch nothing and are skipped. */
  private betweenEvents = true;
  /** The line in progress has no character yet (so a line end now is a blank line). */
  private lineEmpty = true;
  /** The last byte seen was a CR: an LF now belongs to the same line end. */
  private afterCR = false;
  /** The event in progress has a CR in its framing, and is normalised when it ends. */
  private sawCR = false;

  constructor(options: { maxEventBytes?: number } = {}) {
    this.maxEventBytes = options.maxEventBytes ?? defaultMaxEventBytes;
    this.pending = new ByteAccumulator(this.maxEventBytes, 'a stream event that does not end');
  }

  /** Whole events completed by this chunk, in order. Throws upstream_malformed when an event outgrows the limit. */
  push(chunk: Buffer): Buffer[] {
    const events: Buffer[] = [];
    const length = chunk.length;
    let index = 0;
    let start = 0;
    let nextLF = chunk.indexOf(LF);
    let nextCR = chunk.indexOf(CR);
    while (index < length) {
      if (this.afterCR) {
        this.afterCR = false;
        if (chunk[index] === LF) {
          index += 1;
          if (this.betweenEvents) start = index;
          continue;
        }
      }
      if (this.betweenEvents) {
        const byte = chunk[index];
        if (byte === LF || byte === CR) {
          this.afterCR = byte === CR;
          index += 1;
          start = index;
          continue;
        }
        this.betweenEvents = false;
        this.lineEmpty = true;
        this.sawCR = false;
        start = index;
      }
      // The line end of an event's last line is most often followed by the blank line's own: no search for it.
      if (nextLF !== -1 && nextLF < index) nextLF = chunk[index] === LF ? index : chunk.indexOf(LF, index);
      if (nextCR !== -1 && nextCR < index) nextCR = chunk.indexOf(CR, index);
      const end = nextLF === -1 ? nextCR : nextCR === -1 ? nextLF : Math.min(nextLF, nextCR);
      if (end === -1) {
        this.lineEmpty = false;
        index = length;
        break;
      }
      if (end > index) this.lineEmpty = false;
      index = end + 1;
      if (chunk[end] === CR) {
        this.afterCR = true;
        this.sawCR = true;
      }
      if (!this.lineEmpty) {
        this.lineEmpty = true;
        continue;
      }
      // A blank line: the event is whole.
      events.push(this.finish(chunk.subarray(start, index)));
      this.betweenEvents = true;
      start = index;
    }
    if (!this.betweenEvents && start < length) this.pending.append(chunk.subarray(start));
    return events;
  }

  /** Bytes of an event not yet completed by a blank line. */
  get buffered(): number {
    return this.pending.size;
  }

  private finish(tail: Buffer): Buffer {
    let whole = tail;
    if (this.pending.size > 0) {
      this.pending.append(tail);
      whole = this.pending.take();
    } else if (tail.length > this.maxEventBytes) {
      throw new GatewayError('upstream_malformed', `the upstream sent a stream event over ${this.maxEventBytes} bytes`);
    }
    return this.sawCR ? withLineFeeds(whole) : whole;
  }
}

/** The event with every line end (CRLF, CR, LF) as LF. */
function withLineFeeds(event: Buffer): Buffer {
  return Buffer.from(event.toString('latin1').replace(/\r\n?/g, '\n'), 'latin1');
}

const dataField = Buffer.from('data:');
const dataLine = Buffer.from('\ndata:');

/** True when the event carries data (content, usage, an error); false for comments such as `: keep-alive`. */
export function hasData(event: Buffer): boolean {
  return bytesAt(event, 0, dataField) || event.indexOf(dataLine) !== -1;
}

/** True when `bytes` holds `expected` at `at`: compared byte by byte, since a subarray to compare is an allocation, and this runs for every event. */
export function bytesAt(bytes: Buffer, at: number, expected: Buffer): boolean {
  if (bytes.length - at < expected.length) return false;
  for (let index = 0; index < expected.length; index += 1) if (bytes[at + index] !== expected[index]) return false;
  return true;
}

/** True for the end-of-stream event, whose data is exactly `[DONE]` (never a chunk that merely mentions it). */
export function isDone(event: Buffer): boolean {
  // `data: [DONE]` with an optional id or event line is short; a chunk of content never is.
  return event.length <= 96 && parseEvent(event).data === '[DONE]';
}

/** The event's name and joined data lines, for adapters that translate. */
export function parseEvent(event: Buffer): { event?: string; data: string } {
  let name: string | undefined;
  const data: string[] = [];
  for (const line of event.toString('utf8').split('\n')) {
    if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
    else if (line.startsWith('event:')) name = line.slice(line[6] === ' ' ? 7 : 6);
  }
  return name === undefined ? { data: data.join('\n') } : { event: name, data: data.join('\n') };
}
