// Text that leaves the gateway (error messages, stream error events, log
// lines, status pages) passes through here so that no credential is ever
// echoed: every secret of the loaded configs, and anything shaped like a
// bearer token or a well-known provider key. A provider that echoes our
// Authorization header in its error body must not hand our key to a caller.

const keyShapes =
  /\b(sk-[A-Za-z0-9_-]{8,}|sk-ant-[A-Za-z0-9_-]{8,}|AKIA[0-9A-Z]{16}|hf_[A-Za-z0-9]{16,}|gsk_[A-Za-z0-9]{16,})\b|(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi;

export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length >= 4 && result.includes(secret)) result = result.split(secret).join('[redacted]');
  }
  return result.replace(keyShapes, (_match, key: string | undefined, bearer: string | undefined) => (key ? '[redacted]' : `${bearer}[redacted]`));
}

/**
 * The secrets of every config this process has loaded (a reload adds the new
 * ones and keeps the old: a request that started before it may still fail
 * with the old key in an upstream's words). One instance is shared by the
 * gateway's answers and its logger.
 */
export class SecretRedactor {
  private secrets: string[] = [];

  learn(secrets: Iterable<string>): void {
    const known = new Set(this.secrets);
    // Shorter values ("none", "ollama") are placeholders, and replacing them everywhere would garble messages.
    for (const secret of secrets) if (secret.length >= 8) known.add(secret);
    // Longest first, so a secret that contains another is replaced whole.
    this.secrets = [...known].sort((a, b) => b.length - a.length);
  }

  redact(text: string): string {
    return redactSecrets(text, this.secrets);
  }

  /** A Buffer of upstream bytes, copied only when something in it must go. */
  redactBytes(bytes: Buffer): Buffer {
    const text = bytes.toString('utf8');
    const redacted = this.redact(text);
    return redacted === text ? bytes : Buffer.from(redacted, 'utf8');
  }
}
