import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainCause, likelyCause, type CauseEvidence } from './incident-cause.ts';

// The cause an operator reads first, from the evidence an incident has.

const evidence = (codes: Record<string, number>, extra: Partial<CauseEvidence> = {}): CauseEvidence => ({
  codes: new Map(Object.entries(codes)),
  connectCause: undefined,
  healthProblem: undefined,
  ttftAnomaly: false,
  ...extra,
});

test('the dominant failure codes name the cause', () => {
  assert.equal(likelyCause(evidence({ upstream_overloaded: 30, upstream_server_error: 5, upstream_rate_limited: 10 })), 'overloaded');
  assert.equal(likelyCause(evidence({ upstream_rate_limited: 30, upstream_overloaded: 2 })), 'rate_limited');
  assert.equal(likelyCause(evidence({ upstream_auth: 1 })), 'refusing_key');
  assert.equal(likelyCause(evidence({ upstream_payment: 3 })), 'no_balance');
  assert.equal(likelyCause(evidence({ upstream_model_not_found: 2 })), 'unknown_model');
  assert.equal(likelyCause(evidence({ upstream_first_token_timeout: 4, upstream_reset: 2 })), 'stalling');
  assert.equal(likelyCause(evidence({ overloaded: 9, upstream_overloaded: 1 })), 'own_saturation');
  assert.equal(likelyCause(evidence({ upstream_unexpected: 3 })), 'unknown');
});

test('an unreachable provider is told apart by the socket error under it: DNS, TLS or the connection itself', () => {
  assert.equal(likelyCause(evidence({ upstream_connect: 5 }, { connectCause: 'ENOTFOUND' })), 'unreachable_dns');
  assert.equal(likelyCause(evidence({ upstream_connect: 5 }, { connectCause: 'EAI_AGAIN' })), 'unreachable_dns');
  assert.equal(likelyCause(evidence({ upstream_connect: 5 }, { connectCause: 'CERT_HAS_EXPIRED' })), 'unreachable_tls');
  assert.equal(likelyCause(evidence({ upstream_connect: 5 }, { connectCause: 'ERR_TLS_CERT_ALTNAME_INVALID' })), 'unreachable_tls');
  assert.equal(likelyCause(evidence({ upstream_connect: 5 }, { connectCause: 'ECONNREFUSED' })), 'unreachable_connect');
});

test('with no traffic, the health probe and the anomaly detectors speak', () => {
  assert.equal(likelyCause(evidence({}, { healthProblem: 'deepseek could not be reached (ENOTFOUND)' })), 'unreachable_dns');
  assert.equal(likelyCause(evidence({}, { healthProblem: 'answered 401, expected 200' })), 'refusing_key');
  assert.equal(likelyCause(evidence({}, { ttftAnomaly: true })), 'slow');
});

test('every cause has its own plain sentence naming the provider', () => {
  const causes = [
    'refusing_key',
    'no_balance',
    'unknown_model',
    'rate_limited',
    'overloaded',
    'unreachable_dns',
    'unreachable_tls',
    'unreachable_connect',
    'stalling',
    'slow',
    'own_saturation',
    'unknown',
  ] as const;
  const sentences = causes.map((cause) => explainCause(cause, 'deepseek'));
  assert.equal(new Set(sentences).size, causes.length);
  for (const sentence of sentences) assert.match(sentence, /deepseek/);
});
