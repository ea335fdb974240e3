import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { createLogger } from './logger.ts';
import { RequestLog, type RequestLine } from './request-log.ts';
import { tempDir } from '../../test/support/temp-dir.ts';

const line: RequestLine = {
  id: 'req-1',
  route: 'chat',
  provider: 'deepseek',
  model: 'deepseek-chat',
  status: 200,
  attempts: 2,
  failures: ['upstream_overloaded'],
  stream: true,
  latencyMs: 812.345,
  firstTokenMs: 90.06,
  tokensIn: 12,
  tokensOut: 40,
  costUsd: 0.0000476,
};

function readLines(file: string): Record<string, unknown>[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((row) => row !== '')
    .map((row) => JSON.parse(row) as Record<string, unknown>);
}

async function waitForLines(file: string, count: number): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const lines = readLines(file);
    if (lines.length >= count || Date.now() > deadline) return lines;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('request lines are pino-shaped JSON, and odd ids or names cannot break them', async () => {
  const file = join(tempDir('request-log-'), 'log');
  const log = new RequestLog(createLogger({ destination: file, sync: true }));
  log.write(line);
  log.write({
    ...line,
    id: 'a "quoted"\nid \u2028 ünï',
    model: undefined,
    failures: [],
    stream: undefined,
    firstTokenMs: undefined,
    tokensIn: undefined,
    tokensOut: Number.NaN,
  });
  log.write({ ...line, route: 'r"1\\', provider: 'p\n', model: 'm "x"' });
  log.write({ ...line, route: 'r"1\\', provider: 'p\n', model: 'm "x"' });
  const [first, second, third, fourth] = readLines(file);
  assert.deepEqual(
    { ...first, time: 0 },
    {
      level: 30,
      time: 0,
      service: 'switchyard',
      id: 'req-1',
      route: 'chat',
      provider: 'deepseek',
      model: 'deepseek-chat',
      status: 200,
      attempts: 2,
      failures: ['upstream_overloaded'],
      stream: true,
      latency_ms: 812.3,
      first_token_ms: 90.1,
      tokens_in: 12,
      tokens_out: 40,
      cost_usd: 0.0000476,
      msg: 'request',
    },
  );
  assert.ok(Math.abs((first!.time as number) - Date.now()) < 60_000);
  assert.equal(second!.id, 'a "quoted"\nid \u2028 ünï');
  assert.equal(second!.tokens_out, 0);
  assert.ok(!('model' in second!) && !('failures' in second!) && !('stream' in second!));
  // Names are escaped once and kept: the second line with them must read the same.
  for (const named of [third!, fourth!]) assert.deepEqual([named.route, named.provider, named.model], ['r"1\\', 'p\n', 'm "x"']);
});

test('on an asynchronous destination lines are batched, and still written without anyone flushing', async () => {
  const file = join(tempDir('request-log-'), 'log');
  const log = new RequestLog(createLogger({ destination: file }));
  for (let index = 0; index < 1000; index += 1) log.write({ ...line, id: `req-${index}` });
  const lines = await waitForLines(file, 1000);
  assert.equal(lines.length, 1000);
  assert.deepEqual(
    lines.map((row) => row.id),
    Array.from({ length: 1000 }, (_, index) => `req-${index}`),
  );
});

test('nothing is written below the info level', () => {
  const file = join(tempDir('request-log-'), 'log');
  const log = new RequestLog(createLogger({ destination: file, sync: true, level: 'warn' }));
  log.write(line);
  log.flush();
  assert.deepEqual(readLines(file), []);
});

test('a logger made elsewhere (the engine as a library) gets the same fields through its own info()', () => {
  const written: string[] = [];
  const logger = pino({ base: undefined }, { write: (text: string) => written.push(text) });
  new RequestLog(logger).write(line);
  const logged = JSON.parse(written[0]!) as Record<string, unknown>;
  assert.equal(logged.msg, 'request');
  assert.equal(logged.level, 30);
  assert.equal(logged.id, 'req-1');
  assert.equal(logged.route, 'chat');
  assert.deepEqual(logged.failures, ['upstream_overloaded']);
  assert.equal(logged.latency_ms, 812.3);
});
