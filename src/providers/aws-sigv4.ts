import { createHash, createHmac } from 'node:crypto';

// AWS Signature Version 4 for one request, with node:crypto only: the
// canonical request, the string to sign, the derived signing key and the
// Authorization header value. Checked against AWS's published test vectors
// (aws-sigv4.test.ts). Non-S3 rules: each path segment is URI-encoded again.

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SigningRequest {
  method: string;
  /** The path as sent on the wire (already percent-encoded once). */
  path: string;
  /** The query string as sent, without "?", or empty. */
  query?: string;
  /** Every header to sign, host and x-amz-date included; names in any case. */
  headers: Readonly<Record<string, string>>;
  /** Hex SHA-256 of the body. */
  payloadHash: string;
  region: string;
  service: string;
  /** `YYYYMMDDTHHMMSSZ`, the value of x-amz-date. */
  amzDate: string;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** `20150830T123600Z` for a date. */
export function amzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** RFC 3986 encoding: encodeURIComponent plus the four characters it leaves alone. */
export function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function canonicalUri(path: string): string {
  if (path === '' || path === '/') return '/';
  return path.split('/').map(encodeRfc3986).join('/');
}

export function canonicalQuery(query: string | undefined): string {
  if (!query) return '';
  return query
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const at = pair.indexOf('=');
      const key = decodeURIComponent(at === -1 ? pair : pair.slice(0, at));
      const value = at === -1 ? '' : decodeURIComponent(pair.slice(at + 1));
      return [encodeRfc3986(key), encodeRfc3986(value)] as const;
    })
    .sort(([keyA, valueA], [keyB, valueB]) => (keyA < keyB ? -1 : keyA > keyB ? 1 : valueA < valueB ? -1 : valueA > valueB ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
}

export function signingKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), service), 'aws4_request');
}

export interface Signature {
  authorization: string;
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
}

/** Signs a request; `key` may be passed when the caller caches the day's signing key. */
export function signRequest(request: SigningRequest, credentials: SigningCredentials, key?: Buffer): Signature {
  const headers = Object.entries(request.headers)
    .map(([name, value]) => [name.toLowerCase(), value.trim().replace(/\s+/g, ' ')] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const signedHeaders = headers.map(([name]) => name).join(';');
  const canonicalRequest = [
    request.method,
    canonicalUri(request.path),
    canonicalQuery(request.query),
    headers.map(([name, value]) => `${name}:${value}\n`).join(''),
    signedHeaders,
    request.payloadHash,
  ].join('\n');
  const date = request.amzDate.slice(0, 8);
  const scope = `${date}/${request.region}/${request.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', request.amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signature = createHmac('sha256', key ?? signingKey(credentials.secretAccessKey, date, request.region, request.service))
    .update(stringToSign, 'utf8')
    .digest('hex');
  return {
    authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    canonicalRequest,
    stringToSign,
    signature,
  };
}
