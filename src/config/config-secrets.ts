import type { Config } from './schema.ts';

// Every value in a config that is a credential, for the SecretRedactor: found
// by the shape of the config (keys named like credentials, header values,
// passwords in URLs) rather than by a list per provider type, so a provider
// type added later is covered without remembering to add it here.

const credentialKey = /(^|_)(key|secret|token|password|credentials?)($|_)|^authorization$/i;
/** Keys whose values are not secret although their names say key: a hash, or where a key is kept. */
const notSecret = new Set(['key_sha256', 'prefix']);

export function configSecrets(config: Config): string[] {
  const found: string[] = [];
  walk(config, '', false, found);
  return found;
}

function walk(value: unknown, key: string, inHeaders: boolean, found: string[]): void {
  if (typeof value === 'string') {
    if (inHeaders || (credentialKey.test(key) && !notSecret.has(key))) found.push(value);
    const password = urlPassword(value);
    if (password) found.push(password);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) walk(item, key, inHeaders, found);
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const [name, inner] of Object.entries(value)) {
      // server.tls names files (its `key` is a path, not a key): redacting the path would hide which file a log line means.
      if (name === 'tls') continue;
      walk(inner, name, inHeaders || name === 'headers', found);
    }
  }
}

function urlPassword(text: string): string | undefined {
  if (!text.includes('://') || !text.includes('@')) return undefined;
  try {
    const password = decodeURIComponent(new URL(text).password);
    return password === '' ? undefined : password;
  } catch {
    return undefined;
  }
}
