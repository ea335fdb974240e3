import type { Config } from './schema.ts';

// Settings a running gateway cannot take on a reload: where it listens, its
// listeners' own options, the batch store it has open and the store of kept
// Responses API answers chosen with it. A reload keeps serving with the old
// value of each and says which ones wait for a restart.

// server.tls.min_version also tells TLS turned on or off (it has a default); the certificate files themselves reload.
export const restartOnlyPaths = [
  'server.host',
  'server.port',
  'server.admin',
  'server.request_timeout',
  'server.keep_alive_timeout',
  'server.tls.min_version',
  'batches',
  'responses',
] as const;

/** The restart-only settings that differ between two configs, by path. */
export function restartOnlyChanges(previous: Config, next: Config): string[] {
  return restartOnlyPaths.filter((path) => JSON.stringify(valueAt(previous, path)) !== JSON.stringify(valueAt(next, path)));
}

function valueAt(config: Config, path: string): unknown {
  let value: unknown = config;
  for (const part of path.split('.')) value = (value as Record<string, unknown> | undefined)?.[part];
  return value;
}
