// Cuts an upstream byte stream into whole SSE events (each ending with its
// blank line), so that what reaches the client is always whole events: when
// an upstream dies mid-event, the half event is dropped, not forwarded.
// Events are subarrays of the input: no copies, no string conversion.

const LF = 0x0a;
const CR = 0x0d;

export class SseSplitter {
  private pending: Buffer | undefined;

  /** Whole events completed by this chunk, in order. */
  push(chunk: Buffer): Buffer[] {
    const data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const events: Buffer[] = [];
    let start = 0;
    let newline = data.indexOf(LF, start);
    while (newline !== -1) {
      // A blank line ends the event: "\n\n" or "\n\r\n".
      let end = -1;
      if (data[newline + 1] === LF) end = newline + 2;
      else if (data[newline + 1] === CR && data[newline + 2] === LF) end = newline + 3;
      if (end !== -1) {
        if (end - start > 2 || !isBlank(data, start, end)) events.push(data.subarray(start, end));
        start = end;
        newline = data.indexOf(LF, start);
      } else {
        newline = data.indexOf(LF, newline + 1);
      }
    }
    // Leading blank lines (a hold's filler) never start an event.
    while (start < data.length && (data[start] === LF || data[start] === CR)) start += 1;
    this.pending = start < data.length ? data.subarray(start) : undefined;
    return events;
  }

  /** Bytes of an event not yet completed by a blank line. */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }
}

function isBlank(data: Buffer, start: number, end: number): boolean {
  for (let index = start; index < end; index += 1) if (data[index] !== LF && data[index] !== CR) return false;
  return true;
}

const dataPrefix = Buffer.from('data:');
const doneEvent = Buffer.from('[DONE]');

/** True when the event carries data (content, usage, an error); false for comments such as `: keep-alive`. */
export function hasData(event: Buffer): boolean {
  return event.subarray(0, 5).equals(dataPrefix) || event.indexOf('\ndata:') !== -1;
}

/** True for `data: [DONE]`. */
export function isDone(event: Buffer): boolean {
  const at = event.indexOf(doneEvent);
  return at !== -1 && event.length - at < 16;
}

/** The event's name and joined data lines, for adapters that translate. */
export function parseEvent(event: Buffer): { event?: string; data: string } {
  let name: string | undefined;
  const data: string[] = [];
  for (const rawLine of event.toString('utf8').split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
    else if (line.startsWith('event:')) name = line.slice(line[6] === ' ' ? 7 : 6);
  }
  return name === undefined ? { data: data.join('\n') } : { event: name, data: data.join('\n') };
}
