import { createHash } from 'node:crypto';
import type { Config } from './schema.ts';

/** A short hash of a loaded config, shown on /admin/status: replicas on the same config show the same one. */
export function configHash(config: Config): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 12);
}
