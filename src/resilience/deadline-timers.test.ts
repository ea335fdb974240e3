import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { DeadlineTimers } from './deadline-timers.ts';

const timers = new DeadlineTimers();
const setDeadline = (ms: number, fire: () => void) => timers.set(ms, fire);

/** Resolves with performance.now() when the deadline fires. */
const firing = (ms: number, log?: string[], name?: string) =>
  new Promise<number>((resolve) =>
    setDeadline(ms, () => {
      if (log && name) log.push(name);
      resolve(performance.now());
    }),
  );

test('deadlines of different lengths fire in the order they fall due, none before its time', async () => {
  const log: string[] = [];
  const start = performance.now();
  const late = firing(60, log, 'late');
  const soon = firing(15, log, 'soon');
  const middle = firing(30, log, 'middle');
  const [lateAt, soonAt, middleAt] = await Promise.all([late, soon, middle]);
  assert.deepEqual(log, ['soon', 'middle', 'late']);
  // Node's timers may run up to a millisecond early on the loop's clock.
  assert.ok(soonAt - start >= 14, `fired after ${soonAt - start} ms`);
  assert.ok(middleAt - start >= 29, `fired after ${middleAt - start} ms`);
  assert.ok(lateAt - start >= 59, `fired after ${lateAt - start} ms`);
});

test('deadlines a busy loop let pass all at once still fire in the order they fell due', async () => {
  const log: string[] = [];
  const all = Promise.all([firing(60, log, 'late'), firing(15, log, 'soon'), firing(30, log, 'middle')]);
  const busyUntil = performance.now() + 80;
  while (performance.now() < busyUntil) {
    // The event loop is held past every deadline, as under load.
  }
  await all;
  assert.deepEqual(log, ['soon', 'middle', 'late']);
});

test('a cancelled deadline never fires, and the next one of the same length still does', async () => {
  let cancelledRan = false;
  const cancelled = setDeadline(10, () => (cancelledRan = true));
  const kept = firing(25);
  cancelled.cancel();
  cancelled.cancel();
  await kept;
  assert.equal(cancelledRan, false);
});

test('after the soonest deadline is cancelled the timer fires early, finds nothing due and waits for the next', async () => {
  const log: string[] = [];
  const first = setDeadline(5, () => log.push('cancelled'));
  const second = firing(40, log, 'second');
  first.cancel();
  await second;
  assert.deepEqual(log, ['second']);
});

test('a deadline set while another fires is kept', async () => {
  const log: string[] = [];
  const chained = new Promise<void>((resolve) => {
    setDeadline(10, () => {
      log.push('outer');
      setDeadline(10, () => {
        log.push('inner');
        resolve();
      });
    });
  });
  const neighbour = firing(10, log, 'neighbour');
  await Promise.all([chained, neighbour]);
  assert.deepEqual(log, ['outer', 'neighbour', 'inner']);
});

/** Runs a module script in a fresh Node.js process with setDeadline imported. */
function runScript(body: string): { status: number | null; stdout: string; stderr: string } {
  const script = `import { DeadlineTimers } from ${JSON.stringify(new URL('./deadline-timers.ts', import.meta.url).href)};\nconst timers = new DeadlineTimers();\nconst setDeadline = (ms, fire) => timers.set(ms, fire);\n${body}`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
}

test('a callback that throws surfaces as an uncaught exception and the other deadlines still fire', () => {
  // Deadlines do not hold the process open: the interval does, until the last one ran.
  const child = runScript(`process.on('uncaughtException', (error) => console.log('uncaught: ' + error.message));
const hold = setInterval(() => {}, 1000);
setDeadline(10, () => { throw new Error('a broken callback'); });
setDeadline(10, () => console.log('neighbour'));
setDeadline(30, () => { console.log('later'); clearInterval(hold); });`);
  assert.equal(child.status, 0, child.stderr);
  const lines = child.stdout.trim().split('\n');
  assert.deepEqual(lines.slice(0, 2).sort(), ['neighbour', 'uncaught: a broken callback']);
  assert.equal(lines[2], 'later');
});

test('a pending deadline does not keep the process alive', () => {
  const started = performance.now();
  const child = runScript(`setDeadline(60_000, () => console.log('fired'));
console.log('set');`);
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), 'set');
  assert.ok(performance.now() - started < 30_000);
});
