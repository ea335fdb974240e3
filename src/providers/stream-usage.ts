import type { ClientRequest, Usage } from './provider-spec.ts';

// Every stream metered, whether or not its client asked for usage: the
// upstream is asked for `stream_options.include_usage` on every stream, the
// usage-only chunk it then sends is dropped for a client that did not ask
// (it would see an extra chunk with `choices: []`), and a stream whose
// provider reports no usage at all is counted from its text, four
// characters a token (OpenAI's rule of thumb; the fakes count the same way).

const streamOptionsField = Buffer.from('"stream_options":{"include_usage":true},');
const contentKey = Buffer.from('"content":"');
const emptyChoices = [Buffer.from('"choices":[]'), Buffer.from('"choices": []')];

/** Whether the client itself asked for a usage chunk at the end of its stream. */
export function clientWantsUsage(body: Readonly<Record<string, unknown>>): boolean {
  const options = body.stream_options;
  return typeof options === 'object' && options !== null && (options as { include_usage?: unknown }).include_usage === true;
}

/**
 * The upstream body of a stream, asking for usage. The field is inserted at
 * the front of the client's bytes when the client sent no stream_options (a
 * JSON key written first loses to none); a client's own stream_options
 * without include_usage is rare enough to pay for a re-serialisation.
 */
export function askForStreamUsage(request: ClientRequest, body: Buffer, model: string): Buffer {
  const current = request.body.stream_options;
  if (current === undefined || current === null) {
    const open = body.indexOf(0x7b); // {
    if (open === -1) return body;
    const rest = body.subarray(open + 1);
    const empty = rest.every((byte) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09 || byte === 0x7d);
    const field = empty ? streamOptionsField.subarray(0, streamOptionsField.length - 1) : streamOptionsField;
    return Buffer.concat([body.subarray(0, open + 1), field, rest]);
  }
  if (clientWantsUsage(request.body)) return body;
  const options = typeof current === 'object' ? current : {};
  return Buffer.from(JSON.stringify({ ...request.body, model, stream_options: { ...options, include_usage: true } }));
}

/** Watches an OpenAI-shaped stream event by event for the usage the client did not ask for and the text, should no usage come. */
export class StreamUsageMeter {
  private readonly clientAsked: boolean;
  /** Bytes of content text seen (escapes counted as written: close enough for an estimate). */
  private contentBytes = 0;

  constructor(clientAsked: boolean) {
    this.clientAsked = clientAsked;
  }

  /** Counts the event's text (`textBytes`, see contentText); false when the event is a usage-only chunk (`hasUsage`, no choices) this client must not receive. */
  observe(event: Buffer, textBytes: number, hasUsage: boolean): boolean {
    this.contentBytes += textBytes;
    if (this.clientAsked || !hasUsage) return true;
    return !emptyChoices.some((marker) => event.indexOf(marker) !== -1);
  }

  /** Usage counted from the text of the request and the answer, for a provider that reported none. */
  estimate(request: ClientRequest): Usage {
    return { inputTokens: Math.ceil(promptCharacters(request.body) / 4), outputTokens: Math.ceil(this.contentBytes / 4) };
  }
}

/**
 * Where an OpenAI chunk's first `"content":"…"` text starts, or -1 when it has
 * none, and (with jsonStringEnd) where it ends: one search that the stream's
 * other checks share (a multi-byte Buffer.indexOf costs ~150 ns on a 240-byte chunk).
 */
export function contentText(event: Buffer): number {
  const at = event.indexOf(contentKey);
  return at === -1 ? -1 : at + contentKey.length;
}

/** The index of the closing quote of a JSON string whose body starts at `from` (escapes counted as written: close enough for an estimate). */
export function jsonStringEnd(event: Buffer, from: number): number {
  let index = from;
  while (index < event.length) {
    const byte = event[index];
    if (byte === 0x5c)
      index += 2; // a backslash escapes the next byte
    else if (byte === 0x22) break;
    else index += 1;
  }
  return Math.min(index, event.length);
}

function promptCharacters(body: Readonly<Record<string, unknown>>): number {
  const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
  let characters = 0;
  for (const message of messages) {
    const content = (message as { content?: unknown } | null)?.content;
    if (typeof content === 'string') characters += content.length;
    else if (Array.isArray(content))
      for (const part of content) if (typeof (part as { text?: unknown })?.text === 'string') characters += (part as { text: string }).text.length;
  }
  return characters;
}
