// Text that leaves the gateway (error messages, log lines) passes through here
// so that no credential is ever echoed: the configured keys themselves, and
// anything shaped like a bearer token or a well-known provider key.

const keyShapes = /\b(sk-[A-Za-z0-9_-]{8,}|sk-ant-[A-Za-z0-9_-]{8,}|AKIA[0-9A-Z]{16}|hf_[A-Za-z0-9]{16,}|gsk_[A-Za-z0-9]{16,})\b|(Bearer\s+)[^\s"',]+/g;

export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length >= 4 && result.includes(secret)) result = result.split(secret).join('[redacted]');
  }
  return result.replace(keyShapes, (_match, key: string | undefined, bearer: string | undefined) => (key ? '[redacted]' : `${bearer}[redacted]`));
}
