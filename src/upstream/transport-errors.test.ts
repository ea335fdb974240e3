import { test } from 'node:test';
import assert from 'node:assert/strict';
import { transportError } from './transport-errors.ts';

const withCode = (code: string) => Object.assign(new Error(`socket said ${code}`), { code });

test("socket failures are the provider's, each with its own code", () => {
  assert.equal(transportError(withCode('ECONNREFUSED'), 'p').code, 'upstream_connect');
  assert.equal(transportError(withCode('CERT_HAS_EXPIRED'), 'p').code, 'upstream_connect');
  assert.equal(transportError(withCode('ECONNRESET'), 'p').code, 'upstream_reset');
  assert.equal(transportError(withCode('UND_ERR_SOCKET'), 'p').code, 'upstream_reset');
  assert.equal(transportError(withCode('HPE_INVALID_CHUNK_SIZE'), 'p').code, 'upstream_malformed');
  assert.equal(transportError(withCode('ECONNRESET'), 'p').targetFault, true);
});

test('a bug of ours is an internal error, never counted against the provider', () => {
  const bug = transportError(new TypeError("Cannot read properties of undefined (reading 'choices')"), 'p');
  assert.equal(bug.code, 'internal_error');
  assert.equal(bug.status, 500);
  assert.equal(bug.targetFault, false);
  assert.equal(bug.retryable, false);
  assert.ok(bug.cause instanceof TypeError, 'the original error stays attached, for the log');
  assert.equal(transportError(withCode('ERR_INVALID_ARG_TYPE'), 'p').code, 'internal_error');
});
