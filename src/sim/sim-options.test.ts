import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultSimOptions, parseSimArgs, resolveSimOptions } from './sim-options.ts';

test('no flags gives the defaults', () => {
  assert.deepEqual(parseSimArgs([]), { ...defaultSimOptions, models: ['sim-small', 'sim-large'] });
  assert.equal(defaultSimOptions.port, 8790);
  assert.equal(defaultSimOptions.keepaliveIntervalMs, 500);
});

test('flags set their options, in both --flag value and --flag=value forms', () => {
  const options = parseSimArgs([
    '--port',
    '0',
    '--host=0.0.0.0',
    '--seed',
    '9',
    '--busy-rate',
    '0.3',
    '--rate-limit-rate=0.1',
    '--retry-after',
    '2',
    '--hold-rate',
    '0.1',
    '--hold',
    '250',
    '--keepalive-interval',
    '50',
    '--latency',
    '20',
    '--latency-p99',
    '200',
    '--hang-rate',
    '0.05',
    '--drop-rate',
    '0.05',
    '--stall-rate',
    '0.05',
    '--chunks',
    '7',
    '--chunk-interval',
    '10',
    '--model',
    'deepseek-chat',
    '--model',
    'bge-m3',
    '--api-key',
    'sk-sim',
    '--name',
    'east',
  ]);
  assert.deepEqual(options, {
    port: 0,
    host: '0.0.0.0',
    seed: 9,
    busyRate: 0.3,
    rateLimitRate: 0.1,
    retryAfterSeconds: 2,
    holdRate: 0.1,
    holdMs: 250,
    keepaliveIntervalMs: 50,
    latencyMs: 20,
    latencyP99Ms: 200,
    hangRate: 0.05,
    dropRate: 0.05,
    stallRate: 0.05,
    chunks: 7,
    chunkIntervalMs: 10,
    models: ['deepseek-chat', 'bge-m3'],
    apiKey: 'sk-sim',
    name: 'east',
  });
});

test('unknown flags and bad values are refused with a message naming them', () => {
  assert.throws(() => parseSimArgs(['--bussy-rate', '0.5']), /unknown flag "--bussy-rate"/);
  assert.throws(() => parseSimArgs(['--busy-rate']), /--busy-rate needs a value/);
  assert.throws(() => parseSimArgs(['--busy-rate', 'lots']), /--busy-rate needs a number, got "lots"/);
  assert.throws(() => parseSimArgs(['--busy-rate', '1.5']), /--busy-rate\) must be between 0 and 1/);
  assert.throws(() => parseSimArgs(['--port', '70000']), /--port/);
  assert.throws(() => parseSimArgs(['--chunks', '0']), /--chunks/);
  assert.throws(() => parseSimArgs(['--busy-rate', '0.6', '--hang-rate', '0.6']), /add up to/);
  assert.throws(() => parseSimArgs(['--latency-p99', '100']), /--latency-p99/);
  assert.throws(() => parseSimArgs(['--keepalive-interval', '0']), /--keepalive-interval/);
});

test('programmatic options are checked the same way', () => {
  assert.equal(resolveSimOptions({ port: 0, latencyP99Ms: undefined }).port, 0);
  assert.throws(() => resolveSimOptions({ dropRate: -0.1 }), /dropRate/);
  assert.throws(() => resolveSimOptions({ models: [] }), /models/);
});
