import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientRequest } from '../providers/provider-spec.ts';
import { nativeResponsesCodec, spelledOutFor, type KeptItem } from './responses-native.ts';

// A conversation the gateway keeps, spelled out for a target that speaks the
// Responses API: as kept for the provider that made its items, plainly for
// any other; and the target's answer on its way back.

const native = (body: Record<string, unknown>): ClientRequest => ({
  operation: 'responses',
  raw: Buffer.from(JSON.stringify(body)),
  body,
  stream: false,
  modelRange: undefined,
});

test('items go as kept to the provider that made them, plainly to another: no reasoning, no ids, an assistant message as its text', () => {
  const made: KeptItem[] = [
    { item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Weather?' }] }, heldBy: 'openai' },
    { item: { id: 'rs_1', type: 'reasoning', summary: [], encrypted_content: 'x' }, heldBy: 'openai' },
    {
      item: { id: 'msg_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Let me look.', annotations: [] }] },
      heldBy: 'openai',
    },
    { item: { id: 'fc_1', type: 'function_call', status: 'completed', call_id: 'call_1', name: 'weather', arguments: '{}' }, heldBy: 'openai' },
    { item: { type: 'function_call_output', call_id: 'call_1', output: 'sunny' }, heldBy: undefined, own: true },
  ];
  const request = native({ model: 'gpt', previous_response_id: 'resp_1', input: [made[4]!.item], store: true });
  const bodyFor = spelledOutFor(request, made);

  const holder = bodyFor('openai');
  assert.equal(holder.body.previous_response_id, undefined);
  assert.deepEqual(
    holder.body.input,
    made.map(({ item }) => item),
  );
  assert.deepEqual(JSON.parse(holder.raw.toString()), holder.body);
  assert.equal(bodyFor('openai'), holder, 'made once per provider');

  assert.deepEqual(bodyFor('azure').body.input, [
    { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Weather?' }] },
    { type: 'message', role: 'assistant', content: 'Let me look.' },
    { type: 'function_call', call_id: 'call_1', name: 'weather', arguments: '{}' },
    { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
  ]);
});

test('the answer names the previous response the upstream did not get, and a finished one is kept with its provider', () => {
  const kept: [string, string][] = [];
  const codec = nativeResponsesCodec({ previousId: 'resp_1', store: true, keep: (response, provider) => kept.push([response.id as string, provider]) });
  const answer = JSON.parse(
    String(codec.answer(Buffer.from(JSON.stringify({ id: 'resp_2', status: 'completed', previous_response_id: null, output: [] })), { provider: 'openai' })),
  );
  assert.equal(answer.previous_response_id, 'resp_1');
  assert.deepEqual(kept, [['resp_2', 'openai']]);

  const stream = codec.stream({ provider: 'azure' });
  const created = `event: response.created\ndata: ${JSON.stringify({ type: 'response.created', sequence_number: 0, response: { id: 'resp_3', status: 'in_progress', previous_response_id: null } })}\n\n`;
  const first = stream.event(Buffer.from(created), 'response.created', created.slice(created.indexOf('data: ') + 6, -2));
  assert.equal(first.last, false);
  assert.match(String(first.text), /"previous_response_id":"resp_1"/);
  const delta = `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":1,"delta":"Hi"}\n\n`;
  const passed = stream.event(Buffer.from(delta), 'response.output_text.delta', '{"type":"response.output_text.delta","sequence_number":1,"delta":"Hi"}');
  assert.equal(String(passed.text), delta, 'other events pass as they came');
  const failure = JSON.parse(stream.fail({ message: 'cut', type: 'api_error', code: 'upstream_reset', param: null }).split('data: ')[1]!);
  assert.deepEqual(failure, { type: 'error', sequence_number: 2, code: 'upstream_reset', message: 'cut', param: null });

  const untouched = nativeResponsesCodec({ previousId: undefined, store: false, keep: () => assert.fail('store: false keeps nothing') });
  const body = Buffer.from('{"id":"resp_4","status":"completed"}');
  assert.equal(untouched.answer(body, { provider: 'openai' }), body, 'nothing to amend: the bytes as they came');
});
