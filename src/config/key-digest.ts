import { createHash } from 'node:crypto';

// Gateway keys are known by their SHA-256 only: the config may give the digest
// (`key_sha256`, from `switchyard hash-key`) or the key, which is hashed at load.

export const sha256HexPattern = /^[0-9a-f]{64}$/i;

/** The SHA-256 of a gateway key, as lower-case hex. */
export function keyDigest(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
