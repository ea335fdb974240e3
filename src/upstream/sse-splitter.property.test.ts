import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GatewayError } from '../errors/gateway-error.ts';
import { SseSplitter } from './sse-splitter.ts';

// The SSE splitter, for any byte stream an upstream may send: the events are
// those the SSE spec reads (lines end in LF, CRLF or CR; a blank line ends an
// event; blank lines between events are filler), they are the same bytes
// however the stream is cut into chunks, the work grows linearly with the
// bytes, and what is held for an unfinished event never passes the limit.

const LF = '\n';

/** The spec's reading, as a reference: line ends made LF, leading blank lines skipped, an event ends at a blank line. */
function referenceEvents(stream: string): { events: string[]; rest: string } {
  const text = stream.replace(/\r\n?/g, LF);
  const events: string[] = [];
  let at = 0;
  for (;;) {
    while (text[at] === LF) at += 1;
    const end = text.indexOf('\n\n', at);
    if (end === -1) return { events, rest: text.slice(at) };
    events.push(text.slice(at, end + 2));
    at = end + 2;
  }
}

/** Text as the reference reads it: whichever line ends an event keeps, they mean the same. */
const normalized = (event: Buffer) => event.toString('latin1').replace(/\r\n?/g, LF);

// Pieces that make SSE and its edge cases: fields, comments, every kind of line end, [DONE], and arbitrary bytes.
const piece = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom('data: ', 'data:', 'event: message', ': keep-alive', 'id: 7', '{"a":1}', '[DONE]', 'x', '模型', 'data: {"choices":[]}'),
  },
  { weight: 4, arbitrary: fc.constantFrom('\n', '\r\n', '\r', '\n\n', '\r\n\r\n', '\r\r', '\n\r\n', '\n\r') },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map((bytes) => Buffer.from(bytes).toString('latin1')) },
);
const streamArbitrary = fc
  .array(piece, { maxLength: 40 })
  .map((pieces) =>
    Buffer.from(
      pieces.map((part) => Buffer.from(part, part === '模型' || part.startsWith('data: {') ? 'utf8' : 'latin1').toString('latin1')).join(''),
      'latin1',
    ),
  );

/** `stream` cut at the given points (sorted, deduplicated, within range). */
function cut(stream: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((point) => point % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...at, stream.length]) {
    chunks.push(stream.subarray(start, point));
    start = point;
  }
  return chunks;
}

function run(chunks: Buffer[], maxEventBytes?: number): { events: Buffer[]; buffered: number[] } {
  const splitter = maxEventBytes === undefined ? new SseSplitter() : new SseSplitter({ maxEventBytes });
  const events: Buffer[] = [];
  const buffered: number[] = [];
  for (const chunk of chunks) {
    events.push(...splitter.push(chunk));
    buffered.push(splitter.buffered);
  }
  return { events, buffered };
}

test('events are the ones the SSE spec reads, byte for byte the same however the stream is cut', () => {
  fc.assert(
    fc.property(streamArbitrary, fc.array(fc.nat(), { maxLength: 12 }), (stream, points) => {
      const whole = run([stream]);
      const reference = referenceEvents(stream.toString('latin1'));
      assert.deepEqual(whole.events.map(normalized), reference.events, 'the events the spec reads');
      const pieces = run(cut(stream, points));
      assert.deepEqual(
        pieces.events.map((event) => event.toString('latin1')),
        whole.events.map((event) => event.toString('latin1')),
        'the same bytes whatever the cuts',
      );
      assert.equal(pieces.buffered.at(-1), whole.buffered.at(-1), 'the same unfinished event held');
      const bytewise = run([...stream].map((byte) => Buffer.from([byte])));
      assert.deepEqual(
        bytewise.events.map((event) => event.toString('latin1')),
        whole.events.map((event) => event.toString('latin1')),
        'the same bytes fed one at a time',
      );
    }),
    { numRuns: 1000 },
  );
});

test('held bytes never pass maxEventBytes: an event over it is upstream_malformed, one well under it passes, however cut', () => {
  const limit = 256;
  // Lengths drawn evenly up to well past the limit (fast-check's default leans to short strings).
  const lfEvent = fc
    .string({ unit: fc.constantFrom('a', 'b', ':', ' ', '\n'), minLength: 1, maxLength: 400, size: 'max' })
    .map((body) => `data:${body.replace(/\n+/g, LF)}\n\n`);
  const tailArbitrary = fc.string({ unit: fc.constantFrom('a', 'b', '\n'), maxLength: 500, size: 'max' }).map((tail) => tail.replace(/\n+/g, LF));
  fc.assert(
    fc.property(fc.array(lfEvent, { minLength: 1, maxLength: 6 }), tailArbitrary, fc.array(fc.nat(), { maxLength: 20 }), (events, tail, points) => {
      const stream = Buffer.from(events.join('') + tail, 'latin1');
      const reference = referenceEvents(stream.toString('latin1'));
      const longest = Math.max(...reference.events.map((event) => event.length), reference.rest.length);
      const splitter = new SseSplitter({ maxEventBytes: limit });
      let refused: unknown;
      for (const chunk of cut(stream, points)) {
        try {
          splitter.push(chunk);
        } catch (error) {
          refused = error;
          break;
        }
        assert.ok(splitter.buffered <= limit, `${splitter.buffered} bytes held over the limit of ${limit}`);
      }
      if (refused !== undefined) {
        assert.ok(refused instanceof GatewayError && refused.code === 'upstream_malformed', `refused with ${String(refused)}`);
        assert.ok(longest > limit / 2, `refused though the longest event is ${longest} bytes`);
      } else {
        assert.ok(longest <= limit + 2, `an event of ${longest} bytes passed a limit of ${limit}`);
      }
    }),
    { numRuns: 500 },
  );
});

/**
 * The least CPU time of a few runs, in ms. CPU time, not the clock's: on a busy machine a long run is
 * descheduled more often than a short one, which makes linear work look worse than linear. The least
 * run is the one garbage collection disturbed least. It stops early once a run is under `enough`, or over a second.
 */
function leastTime(work: () => void, runs: number, enough = 0): number {
  let least = Number.POSITIVE_INFINITY;
  for (let round = 0; round < runs; round += 1) {
    const start = process.cpuUsage();
    work();
    const used = process.cpuUsage(start);
    const took = (used.user + used.system) / 1000;
    least = Math.min(least, took);
    if (took < enough || took > 1000) break;
  }
  return least;
}

test('work grows linearly with the bytes for streams that never end an event or end many', () => {
  // Each shape without a blank line (an event that never ends), and one of many small events.
  const shapes = { 'no line end': 'x', 'LF lines': 'data: x\n', 'CR lines': 'a\r', 'CRLF lines': ': keep\r\n', 'whole events': 'data: {"a":1}\n\n' };
  const chunkSize = 64;
  const feed = (unit: string, bytes: number) => {
    const chunk = Buffer.from(unit.repeat(Math.ceil(chunkSize / unit.length)).slice(0, chunkSize), 'latin1');
    const splitter = new SseSplitter({ maxEventBytes: 64 * 1024 * 1024 });
    for (let sent = 0; sent < bytes; sent += chunk.length) splitter.push(chunk);
  };
  for (const [shape, unit] of Object.entries(shapes)) {
    feed(unit, 256 * 1024); // compiled before it is timed
    const small = leastTime(() => feed(unit, 256 * 1024), 5);
    // Linear work is about 4 times as long for 4 times the bytes; copying the held bytes on every chunk is about 16.
    const bound = Math.max(8 * small, 20);
    const large = leastTime(() => feed(unit, 1024 * 1024), 5, bound);
    assert.ok(large < bound, `${shape}: 256 KiB took ${small.toFixed(1)} ms, 1 MiB ${large.toFixed(1)} ms`);
  }
});
