import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drawPlan } from './fault-plan.ts';
import { createPrng } from './prng.ts';
import { defaultSimOptions } from './sim-options.ts';

test('the same seed draws the same numbers', () => {
  const first = createPrng(123);
  const second = createPrng(123);
  const draws = Array.from({ length: 50 }, () => first.next());
  assert.deepEqual(
    Array.from({ length: 50 }, () => second.next()),
    draws,
  );
  assert.ok(draws.every((draw) => draw >= 0 && draw < 1));
  assert.notDeepEqual(Array.from({ length: 50 }, createPrng(124).next), draws);
});

test('rates become the share of each behaviour', () => {
  const prng = createPrng(5);
  const faults = { ...defaultSimOptions, busyRate: 0.2, rateLimitRate: 0.1, dropRate: 0.1 };
  const counts = new Map<unknown, number>();
  for (let index = 0; index < 20_000; index++) {
    const { behaviour } = drawPlan(prng, faults, undefined);
    counts.set(behaviour, (counts.get(behaviour) ?? 0) + 1);
  }
  const share = (behaviour: string) => (counts.get(behaviour) ?? 0) / 20_000;
  assert.ok(Math.abs(share('busy') - 0.2) < 0.015);
  assert.ok(Math.abs(share('rate_limited') - 0.1) < 0.015);
  assert.ok(Math.abs(share('drop') - 0.1) < 0.015);
  assert.ok(Math.abs(share('ok') - 0.6) < 0.015);
  assert.equal(counts.get('hang'), undefined);
});

test('a scripted behaviour wins over the draw; a drop cuts after 2 or 3 chunks', () => {
  const prng = createPrng(1);
  assert.equal(drawPlan(prng, { ...defaultSimOptions, busyRate: 1 }, 'ok').behaviour, 'ok');
  for (let index = 0; index < 50; index++) {
    const plan = drawPlan(prng, { ...defaultSimOptions, dropRate: 1 }, undefined);
    assert.ok(plan.chunksBeforeDrop === 2 || plan.chunksBeforeDrop === 3);
  }
});

test('lognormal latency has the asked median and p99', () => {
  const prng = createPrng(77);
  const faults = { ...defaultSimOptions, latencyMs: 50, latencyP99Ms: 400 };
  const latencies = Array.from({ length: 20_000 }, () => drawPlan(prng, faults, undefined).latencyMs).sort((a, b) => a - b);
  const median = latencies[10_000]!;
  const p99 = latencies[19_800]!;
  assert.ok(Math.abs(median - 50) < 5, `median ${median}`);
  assert.ok(Math.abs(p99 - 400) < 60, `p99 ${p99}`);
  assert.equal(drawPlan(prng, { ...defaultSimOptions, latencyMs: 30 }, undefined).latencyMs, 30);
});
