import { errorCodes, type ErrorCodeInfo } from './error-codes.ts';

// docs/errors.md, rendered from the error table, so the catalogue users read
// is the table the gateway runs on (`npm run docs:errors` writes it; a test
// fails when the file is behind the table).

const actions: Record<ErrorCodeInfo['action'], string> = {
  return: 'returned to the client',
  retry: 'retried on the same target after a backoff, then the next target is tried',
  failover: 'the next target is tried at once',
};

function whatHappens(info: ErrorCodeInfo): string {
  const parts = [actions[info.action]];
  if (info.targetFault) parts.push("counts against the provider's circuit breaker and outlier detection");
  if (info.cooldown) parts.push('the target is left out for its `failure_cooldown`');
  if (info.servesStale) parts.push('a kept answer past its ttl is served instead on routes with `cache.stale_if_error`');
  return parts.join('; ');
}

/** Markdown table cells hold no pipes or line breaks. */
const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

export function renderErrorCatalogue(): string {
  const rows = Object.entries(errorCodes).map(
    ([code, info]) => `| \`${code}\` | ${info.status} | \`${info.type}\` | ${cell(info.description)} | ${cell(whatHappens(info))} |`,
  );
  return `# Error codes

<!-- Generated from src/errors/error-codes.ts by \`npm run docs:errors\`; edit the table there, not this file. -->

Every error the gateway makes has the OpenAI error shape
(\`{"error": {"message", "type", "code", "param"}}\`) and one of these codes in
\`code\`; \`type\` is what OpenAI's SDKs expect for the status. Errors of a
provider that reach the client as they are (\`upstream_bad_request\`,
\`upstream_context_length\`) keep the provider's message, and a 413 or 422 keeps
its status. The gateway's own 429s and 503s carry \`Retry-After\`. The request
log's \`failures\` field lists the code of every failed attempt, and
\`switchyard_upstream_attempts_total{outcome}\` counts them.

| code | status | type | meaning | what the gateway does |
| --- | --- | --- | --- | --- |
${rows.join('\n')}
`;
}
