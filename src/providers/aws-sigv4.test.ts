import { test } from 'node:test';
import assert from 'node:assert/strict';
import { amzDate, canonicalUri, sha256Hex, signingKey, signRequest } from './aws-sigv4.ts';

// Vectors from AWS's Signature Version 4 documentation and test suite:
// credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
// region us-east-1, service "service", 20150830T123600Z.

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const suite = { region: 'us-east-1', service: 'service', amzDate: '20150830T123600Z', payloadHash: sha256Hex('') };
const headers = { Host: 'example.amazonaws.com', 'X-Amz-Date': '20150830T123600Z' };
const scope = 'AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date';

test('the derived signing key matches the documented example (20120215, us-east-1, iam)', () => {
  assert.equal(
    signingKey(credentials.secretAccessKey, '20120215', 'us-east-1', 'iam').toString('hex'),
    'f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d',
  );
});

test('get-vanilla', () => {
  const signed = signRequest({ ...suite, method: 'GET', path: '/', headers }, credentials);
  assert.equal(signed.authorization, `AWS4-HMAC-SHA256 Credential=${scope}, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31`);
});

test('get-vanilla-query-order-key-case: the query is sorted before signing', () => {
  const signed = signRequest({ ...suite, method: 'GET', path: '/', query: 'Param2=value2&Param1=value1', headers }, credentials);
  assert.equal(signed.signature, 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500');
});

test('post-vanilla', () => {
  const signed = signRequest({ ...suite, method: 'POST', path: '/', headers }, credentials);
  assert.equal(signed.signature, '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b');
});

test('a Bedrock model id with a colon is encoded again in the canonical path, as non-S3 services expect', () => {
  assert.equal(canonicalUri('/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse'), '/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse');
});

test('x-amz-date has no dashes, colons or milliseconds', () => {
  assert.equal(amzDate(new Date('2015-08-30T12:36:00.123Z')), '20150830T123600Z');
});
