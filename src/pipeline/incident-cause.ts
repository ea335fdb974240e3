// The likely cause of a provider's trouble, in plain words, from the failure
// codes of its attempts (and the socket error under a connect failure), its
// health probe and its anomalies. The first rule that matches the dominant
// evidence wins; the order puts what an operator must fix by hand first.

export type Cause =
  | 'refusing_key'
  | 'no_balance'
  | 'unknown_model'
  | 'rate_limited'
  | 'overloaded'
  | 'unreachable_dns'
  | 'unreachable_tls'
  | 'unreachable_connect'
  | 'stalling'
  | 'slow'
  | 'own_saturation'
  | 'unknown';

export interface CauseEvidence {
  /** Failed attempts by code over the incident. */
  codes: ReadonlyMap<string, number>;
  /** The socket error code under the last connect failure (ENOTFOUND, ECONNREFUSED, CERT_HAS_EXPIRED...). */
  connectCause: string | undefined;
  /** The health probe's last problem, when it fails. */
  healthProblem: string | undefined;
  ttftAnomaly: boolean;
}

const dnsCodes = /ENOTFOUND|EAI_AGAIN|EAI_NONAME|EAI_FAIL/;
const tlsCodes = /CERT|TLS|SSL|SELF_SIGNED|ALTNAME|HANDSHAKE/;

/** Groups of failure codes, each a cause; `overloaded` is the gateway's own full waiting line. */
const groups: [Cause, readonly string[]][] = [
  ['refusing_key', ['upstream_auth']],
  ['no_balance', ['upstream_payment']],
  ['unknown_model', ['upstream_model_not_found']],
  ['unreachable_connect', ['upstream_connect']],
  ['rate_limited', ['upstream_rate_limited']],
  ['overloaded', ['upstream_overloaded', 'upstream_server_error']],
  ['stalling', ['upstream_first_token_timeout', 'upstream_stalled', 'upstream_reset', 'upstream_malformed']],
  ['own_saturation', ['overloaded']],
];

export function likelyCause(evidence: CauseEvidence): Cause {
  let best: Cause = 'unknown';
  let bestCount = 0;
  for (const [cause, codes] of groups) {
    const count = codes.reduce((sum, code) => sum + (evidence.codes.get(code) ?? 0), 0);
    if (count > bestCount) {
      best = cause;
      bestCount = count;
    }
  }
  const healthProblem = evidence.healthProblem ?? '';
  if (best === 'unknown' && /could not be reached|no answer within/.test(healthProblem)) best = 'unreachable_connect';
  if (best === 'unknown' && /answered 40[13]/.test(healthProblem)) best = 'refusing_key';
  if (best === 'unreachable_connect') {
    const underlying = `${evidence.connectCause ?? ''} ${healthProblem}`;
    if (dnsCodes.test(underlying)) return 'unreachable_dns';
    if (tlsCodes.test(underlying)) return 'unreachable_tls';
  }
  if (best === 'unknown' && evidence.ttftAnomaly) return 'slow';
  return best;
}

export function explainCause(cause: Cause, provider: string): string {
  switch (cause) {
    case 'refusing_key':
      return `${provider} refuses our API key (401/403): it is wrong, revoked or for another account. Replace providers.${provider}.api_key; this will not heal by itself.`;
    case 'no_balance':
      return `${provider} says the account has no balance or quota left (402, or 429 insufficient_quota). Top it up; this will not heal by itself.`;
    case 'unknown_model':
      return `${provider} does not know the configured model (404): check the target's model name.`;
    case 'rate_limited':
      return `${provider} is rate-limiting us (429): we send more than its quota allows. Lower traffic to it, set providers.${provider}.rate_limit below its quota, or raise the quota.`;
    case 'overloaded':
      return `${provider} is overloaded: it answers "busy" (503/529) or fails with 5xx. Usually on its side and temporary.`;
    case 'unreachable_dns':
      return `${provider} is unreachable: its host name does not resolve (DNS). Check base_url's host and this machine's resolver.`;
    case 'unreachable_tls':
      return `${provider} is unreachable: the TLS handshake fails (certificate or protocol). Check base_url's scheme and the certificate.`;
    case 'unreachable_connect':
      return `${provider} is unreachable: connections are refused or time out. Is it up, is base_url's port right, is a firewall in the way?`;
    case 'stalling':
      return `${provider} is slow or stalling: no first token in time, or streams cut or hung.`;
    case 'slow':
      return `${provider} is slow: its time to first token is well above its own normal, though it still answers.`;
    case 'own_saturation':
      return `The gateway itself is saturated for ${provider}: its max_concurrency places are taken and the waiting line is full, so requests are shed here.`;
    default:
      return `${provider} is failing, for no single clear reason: see the codes below.`;
  }
}
