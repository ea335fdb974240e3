import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { BoundCounter, BoundHistogram } from './bound-metrics.ts';

// The bound metrics must scrape exactly as prom-client's own would after the
// same updates: dashboards and alert rules are written against that text.

const buckets = [0.005, 0.05, 0.5, 5];
const observations: [string, string, number][] = [
  ['chat', 'deepseek', 0.001],
  ['chat', 'deepseek', 0.005],
  ['chat', 'deepseek', 0.3],
  ['chat', 'openai', 7],
  ['chat', 'deepseek', 0.049],
  ['embed', 'openai', 0.02],
];

test('a bound histogram and counter scrape as prom-client would', async () => {
  const reference = new Registry();
  const referenceHistogram = new Histogram({ name: 'latency_seconds', help: 'Latency.', labelNames: ['route', 'provider'], buckets, registers: [reference] });
  const referenceCounter = new Counter({ name: 'requests_total', help: 'Requests.', labelNames: ['route', 'provider', 'status'], registers: [reference] });
  const bound = new Registry();
  const histogram = new BoundHistogram({ name: 'latency_seconds', help: 'Latency.', labelNames: ['route', 'provider'], buckets, registers: [bound] });
  const counter = new BoundCounter({ name: 'requests_total', help: 'Requests.', labelNames: ['route', 'provider', 'status'], registers: [bound] });

  for (const [route, provider, seconds] of observations) {
    referenceHistogram.labels(route, provider).observe(seconds);
    histogram.labels(route, provider).observe(seconds);
    referenceCounter.labels(route, provider, '200').inc();
    counter.labels(route, provider, '200').inc();
  }
  referenceCounter.labels('chat', 'deepseek', '503').inc(3);
  counter.labels('chat', 'deepseek', '503').inc(3);

  assert.equal(await bound.metrics(), await reference.metrics());
  assert.match(await bound.metrics(), /latency_seconds_bucket\{le="0\.05",route="chat",provider="deepseek"\} 3\n/);

  reference.resetMetrics();
  bound.resetMetrics();
  assert.match(await bound.metrics(), /requests_total\{route="chat",provider="deepseek",status="503"\} 0/);
});

test('a series is bound once: the same label values give the same series', () => {
  const counter = new BoundCounter({ name: 'x_total', help: 'X.', labelNames: ['a', 'b'], registers: [] });
  assert.equal(counter.labels('1', '2'), counter.labels('1', '2'));
  assert.notEqual(counter.labels('1', '2'), counter.labels('12', ''));
});
