import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryResponseStore, type StoredResponse } from './response-store.ts';

function stored(id: string, text = 'hello'): StoredResponse {
  return {
    response: { id, object: 'response', previous_response_id: null, output: [{ id: `msg_${id}`, type: 'message', content: [{ type: 'output_text', text }] }] },
    input: [{ role: 'user', content: 'hi' }],
  };
}

test('a kept response and its items are found by their tenant only', async () => {
  const store = new MemoryResponseStore({ maxBytes: 1_000_000, ttlMs: 60_000 });
  await store.put('a', stored('resp_1'));
  assert.equal((await store.get('a', 'resp_1'))?.response.id, 'resp_1');
  assert.equal(await store.get('b', 'resp_1'), undefined);
  assert.equal((await store.item('a', 'msg_resp_1'))?.item.type, 'message');
  assert.equal(await store.item('b', 'msg_resp_1'), undefined);
  assert.equal(await store.delete('b', 'resp_1'), false);
  assert.equal(await store.delete('a', 'resp_1'), true);
  assert.equal(await store.item('a', 'msg_resp_1'), undefined, 'a deleted response takes its items with it');
});

test('answers expire after the ttl, on the injected clock', async () => {
  let now = 1_000;
  const store = new MemoryResponseStore({ maxBytes: 1_000_000, ttlMs: 60_000, now: () => now });
  await store.put('a', stored('resp_1'));
  now += 59_000;
  assert.ok(await store.get('a', 'resp_1'));
  now += 2_000;
  assert.equal(await store.get('a', 'resp_1'), undefined);
  assert.equal(await store.item('a', 'msg_resp_1'), undefined);
});

test('the store stays under its byte bound: the least recently used answers go, with their item index entries', async () => {
  const store = new MemoryResponseStore({ maxBytes: 2_000, ttlMs: 60_000 });
  for (let index = 0; index < 100; index += 1) await store.put('a', stored(`resp_${index}`, 'x'.repeat(100)));
  assert.ok(store.size < 20, `kept ${store.size}`);
  assert.equal(await store.get('a', 'resp_0'), undefined);
  assert.ok(await store.get('a', 'resp_99'));
  assert.ok(await store.item('a', 'msg_resp_99'));
  // One larger than the whole store is not kept at all.
  await store.put('a', stored('resp_big', 'x'.repeat(5_000)));
  assert.equal(await store.get('a', 'resp_big'), undefined);
  assert.equal(await store.item('a', 'msg_resp_big'), undefined);
});
