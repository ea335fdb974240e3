import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientChannel } from '../pipeline/client-channel.ts';
import { Cancellation } from '../resilience/cancellation.ts';
import { FrontDoorChannel, type FrontDoorCodec } from './front-door-channel.ts';
import { createMessagesStream } from './messages-stream.ts';
import { createResponsesStream } from './responses-stream.ts';

// The stream codecs fed recorded Chat Completions streams as the pipeline
// writes them, cut anywhere: whatever the cuts, the client gets the same
// whole events in the same order.

/** A DeepSeek reasoner stream: reasoning, text, then two tool calls, the finish, the usage chunk, [DONE]. */
const head = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"deepseek-reasoner","choices":';
const recorded = [
  `${head}[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":""},"finish_reason":null}]}`,
  `${head}[{"index":0,"delta":{"reasoning_content":"The user wants"},"finish_reason":null}]}`,
  `${head}[{"index":0,"delta":{"reasoning_content":" the weather."},"finish_reason":null}]}`,
  `${head}[{"index":0,"delta":{"content":"Checking "},"finish_reason":null}]}`,
  `${head}[{"index":0,"delta":{"content":"now — é ✓"},"finish_reason":null}]}`,
  `${head}[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`,
  `${head}[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"city\\":"}}]},"finish_reason":null}]}`,
  `${head}[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\\"Paris\\"}"}}]},"finish_reason":null}]}`,
  `${head}[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}]}`,
  `${head}[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
  `${head}[],"usage":{"prompt_tokens":20,"completion_tokens":30,"total_tokens":50,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":10}}}`,
]
  .map((chunk) => `data: ${chunk}\n\n`)
  .join('')
  .concat(': keep-alive\n\n', 'data: [DONE]\n\n');

class Recorder implements ClientChannel {
  readonly gone = new Cancellation();
  headersSent = false;
  text = '';
  ended = false;
  sendJson(): void {}
  startStream(): void {
    this.headersSent = true;
  }
  write(chunk: Buffer | string): boolean {
    this.text += chunk.toString();
    return true;
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
  end(): void {
    this.ended = true;
  }
}

function run(codec: FrontDoorCodec, pieces: string[], end = true): string {
  const recorder = new Recorder();
  const channel = new FrontDoorChannel(recorder, codec);
  channel.startStream({});
  for (const piece of pieces) channel.write(Buffer.from(piece));
  if (end) channel.end();
  return recorder.text;
}

/** The events' names and data, ids and timestamps made stable. */
function events(text: string): { event: string | undefined; data: Record<string, unknown> | undefined }[] {
  const stable = text.replace(/(resp|msg|fc|rs)_[0-9a-f]{24,48}/g, '$1_ID').replace(/"(created_at|completed_at)":\d+/g, '"$1":0');
  return stable
    .split('\n\n')
    .filter((block) => block.startsWith('event:'))
    .map((block) => {
      const [eventLine, dataLine] = block.split('\n');
      return { event: eventLine!.slice(7), data: dataLine ? (JSON.parse(dataLine.slice(6)) as Record<string, unknown>) : undefined };
    });
}

/** The recorded stream's bytes cut in two at every seventh byte (through UTF-8 characters too). */
function everyCut(text: string): string[][] {
  const bytes = Buffer.from(text);
  const cuts: string[][] = [];
  for (let at = 1; at < bytes.length; at += 7) cuts.push([bytes.subarray(0, at).toString('latin1'), bytes.subarray(at).toString('latin1')]);
  return cuts;
}

function runBytes(codec: () => FrontDoorCodec, pieces: string[]): string {
  const recorder = new Recorder();
  const channel = new FrontDoorChannel(recorder, codec());
  channel.startStream({});
  for (const piece of pieces) channel.write(Buffer.from(piece, 'latin1'));
  channel.end();
  return recorder.text;
}

const responsesCodec = (kept: Record<string, unknown>[] = []): FrontDoorCodec => ({
  answer: () => '',
  stream: () =>
    createResponsesStream({
      draft: { id: 'resp_0123456789abcdef0123456789abcdef0123456789abcdef', createdAt: 1, echo: { store: true } },
      model: 'chat',
      onComplete: (response) => kept.push(response),
    }),
});
const messagesCodec = (): FrontDoorCodec => ({ answer: () => '', stream: () => createMessagesStream({ model: 'chat' }) });

test('Responses: the recorded stream becomes typed events with rising sequence numbers, reasoning, text and two calls', () => {
  const kept: Record<string, unknown>[] = [];
  const list = events(run(responsesCodec(kept), [recorded]));
  assert.deepEqual(
    list.map((item) => item.event),
    [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ],
  );
  assert.deepEqual(
    list.map((item) => item.data?.sequence_number),
    list.map((_item, index) => index),
  );
  for (const item of list) assert.equal(item.data?.type, item.event);
  const completed = list.at(-1)!.data!.response as { status: string; model: string; output: Record<string, unknown>[]; usage: Record<string, unknown> };
  assert.equal(completed.status, 'completed');
  assert.equal(completed.model, 'deepseek-reasoner');
  assert.deepEqual(
    completed.output.map((item) => item.type),
    ['reasoning', 'message', 'function_call', 'function_call'],
  );
  assert.deepEqual(completed.output[0]!.summary, [{ type: 'summary_text', text: 'The user wants the weather.' }]);
  assert.equal((completed.output[1]!.content as { text: string }[])[0]!.text, 'Checking now — é ✓');
  assert.deepEqual([completed.output[2]!.call_id, completed.output[2]!.name, completed.output[2]!.arguments], ['call_a', 'get_weather', '{"city":"Paris"}']);
  assert.deepEqual([completed.output[3]!.call_id, completed.output[3]!.arguments], ['call_b', '{}']);
  assert.deepEqual(completed.usage, {
    input_tokens: 20,
    input_tokens_details: { cached_tokens: 4 },
    output_tokens: 30,
    output_tokens_details: { reasoning_tokens: 10 },
    total_tokens: 50,
  });
  assert.equal(kept.length, 1, 'the finished response is handed to the store');
});

test('Responses: every cut of the bytes gives the same events', () => {
  const whole = events(run(responsesCodec(), [recorded]));
  for (const pieces of everyCut(recorded)) assert.deepEqual(events(runBytes(responsesCodec, pieces)), whole);
});

test('Messages: the recorded stream becomes Anthropic events, blocks numbered in order', () => {
  const list = events(run(messagesCodec(), [recorded]));
  assert.deepEqual(
    list.map((item) => item.event),
    [
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ],
  );
  assert.deepEqual(list[1]!.data!.content_block, { type: 'text', text: '' });
  assert.deepEqual(list[5]!.data, { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'call_a', name: 'get_weather', input: {} } });
  assert.deepEqual(list[10]!.data, { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{}' } });
  assert.deepEqual(list.at(-2)!.data, {
    type: 'message_delta',
    delta: { stop_reason: 'tool_use', stop_sequence: null },
    usage: { output_tokens: 30, input_tokens: 16, cache_read_input_tokens: 4 },
  });
});

test('Messages: every cut of the bytes gives the same events', () => {
  const whole = events(run(messagesCodec(), [recorded]));
  for (const pieces of everyCut(recorded)) assert.deepEqual(events(runBytes(messagesCodec, pieces)), whole);
});

test('keep-alive comments reach the client as they are', () => {
  assert.ok(run(responsesCodec(), [recorded]).includes(': keep-alive\n\n'));
});

const cut = recorded.slice(0, recorded.indexOf('"content":"now'));
const errorEvent = 'data: {"error":{"message":"deepseek closed the connection early","type":"api_error","code":"upstream_reset","param":null}}\n\n';

test("a stream the pipeline ends with an error event ends in each front door's error event", () => {
  const responses = events(run(responsesCodec(), [cut.slice(0, cut.lastIndexOf('data:')), errorEvent]));
  assert.deepEqual(responses.at(-1)!.data, {
    type: 'error',
    sequence_number: responses.length - 1,
    code: 'upstream_reset',
    message: 'deepseek closed the connection early',
    param: null,
  });
  const messages = events(run(messagesCodec(), [cut.slice(0, cut.lastIndexOf('data:')), errorEvent]));
  assert.deepEqual(messages.at(-1)!.data, { type: 'error', error: { type: 'api_error', message: 'deepseek closed the connection early' } });
});

test('overloaded_error only when the gateway says every target was overloaded', () => {
  const overloaded = 'data: {"error":{"message":"Route is saturated","type":"rate_limit_error","code":"overloaded","param":null}}\n\n';
  const messages = events(run(messagesCodec(), [overloaded]));
  assert.equal((messages.at(-1)!.data!.error as { type: string }).type, 'overloaded_error');
  const limited = 'data: {"error":{"message":"rate limited","type":"rate_limit_error","code":"rate_limited","param":null}}\n\n';
  assert.equal((events(run(messagesCodec(), [limited])).at(-1)!.data!.error as { type: string }).type, 'rate_limit_error');
});

test('a stream that stops without [DONE] or an error still ends in an error event, and nothing follows it', () => {
  const list = events(run(responsesCodec(), [cut]));
  assert.equal(list.at(-1)!.event, 'error');
  assert.equal(list.filter((item) => item.event === 'response.completed').length, 0);
  const recorder = new Recorder();
  const channel = new FrontDoorChannel(recorder, messagesCodec());
  channel.startStream({});
  channel.write(errorEvent);
  channel.write(recorded);
  channel.end();
  assert.deepEqual(
    events(recorder.text).map((item) => item.event),
    ['error'],
  );
});

test('an event that never ends is given up past 4 MB, not buffered without bound', () => {
  const recorder = new Recorder();
  const channel = new FrontDoorChannel(recorder, responsesCodec());
  channel.startStream({});
  const piece = 'x'.repeat(1024 * 1024);
  channel.write(`data: {"a":"`);
  for (let index = 0; index < 5; index += 1) channel.write(piece);
  assert.match(recorder.text, /event: error/);
  assert.match(recorder.text, /larger than 4 MB/);
});
