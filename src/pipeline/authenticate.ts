import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/schema.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import { echoed } from '../errors/echo.ts';

// Gateway API keys (`auth.keys`), known only by their SHA-256 (the config keeps
// no plain key after load). A presented key is hashed and looked up in a map
// built once per config; the map's timing can only tell a caller about the
// digest of its guess, which says nothing of a key, and the final equality is
// constant-time all the same.

export type KeyEntry = NonNullable<Config['auth']>['keys'][number];
interface HashedKey {
  digest: Buffer;
  entry: KeyEntry;
}

const lookups = new WeakMap<object, Map<string, HashedKey>>();

function lookupOf(auth: NonNullable<Config['auth']>): Map<string, HashedKey> {
  let lookup = lookups.get(auth);
  if (!lookup) {
    lookup = new Map(auth.keys.map((entry) => [entry.key_sha256, { digest: Buffer.from(entry.key_sha256, 'hex'), entry }]));
    lookups.set(auth, lookup);
  }
  return lookup;
}

/** The caller's key entry, undefined when auth is off; throws 401 when a key is needed and missing or wrong. */
export function authenticate(config: Config, authorization: string | undefined): KeyEntry | undefined {
  if (!config.auth) return undefined;
  // The scheme is case-insensitive (RFC 9110 §11.1).
  const token = authorization !== undefined && /^bearer /i.test(authorization) ? authorization.slice(7).trim() : undefined;
  if (!token) throw new GatewayError('invalid_api_key', 'Missing API key: send it as "Authorization: Bearer <key>".');
  const presented = createHash('sha256').update(token).digest();
  const match = lookupOf(config.auth).get(presented.toString('hex'));
  if (!match || !timingSafeEqual(match.digest, presented)) throw new GatewayError('invalid_api_key', 'Incorrect API key provided.');
  return match.entry;
}

/** A key limited to some routes may not use the others. */
export function checkRouteAllowed(entry: KeyEntry | undefined, route: string): void {
  if (entry?.routes && !entry.routes.includes(route)) {
    throw new GatewayError('invalid_api_key', `This API key may not use the route "${echoed(route)}".`, { status: 403 });
  }
}

/**
 * The admin plane (/admin, /metrics, /dashboard) when `auth.keys` is set: a key
 * with `admin: true`, as a bearer token (Prometheus, curl) or as the password of
 * HTTP Basic, which is what a browser's own login prompt sends.
 */
export function authenticateAdmin(config: Config, authorization: string | undefined): void {
  if (!config.auth) return;
  const entry = authenticate(config, basicAsBearer(authorization));
  if (!entry?.admin)
    throw new GatewayError('invalid_api_key', 'This API key may not use the admin plane (/admin, /metrics, /dashboard): that needs a key with admin: true.', {
      status: 403,
    });
}

function basicAsBearer(authorization: string | undefined): string | undefined {
  if (!/^basic /i.test(authorization ?? '')) return authorization;
  const credentials = Buffer.from(authorization!.slice(6).trim(), 'base64').toString('utf8');
  const colon = credentials.indexOf(':');
  return colon < 0 ? undefined : `Bearer ${credentials.slice(colon + 1)}`;
}
