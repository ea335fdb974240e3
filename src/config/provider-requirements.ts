import type { SubstitutionProblem } from './env-substitution.ts';

// What each provider type needs beyond the common keys. The schema accepts
// every type's keys as optional; this checks, on the substituted document,
// that a provider has the keys its type needs and none that belong to
// another type, so `switchyard check` names the exact key and what to do.
// Bedrock's credentials may come from the standard AWS variables: they are
// copied into the document here, so the validated config is self-contained.

type Loose = Record<string, unknown>;
type ProviderType = 'openai' | 'azure' | 'bedrock' | 'anthropic' | 'huggingface' | 'sdwebui';

/** Keys that only some types take. */
const keyOwners: Record<string, readonly ProviderType[]> = {
  api_version: ['azure'],
  azure_api: ['azure'],
  entra_token: ['azure'],
  region: ['bedrock'],
  access_key_id: ['bedrock'],
  secret_access_key: ['bedrock'],
  session_token: ['bedrock'],
  anthropic_version: ['anthropic'],
  max_tokens_default: ['anthropic', 'bedrock'],
};

/** Standard AWS variables read when the config leaves a Bedrock credential out. */
const awsVariables = { access_key_id: 'AWS_ACCESS_KEY_ID', secret_access_key: 'AWS_SECRET_ACCESS_KEY', session_token: 'AWS_SESSION_TOKEN' } as const;

export interface ProviderCheck {
  /** The document with Bedrock credentials filled in from the environment. */
  document: unknown;
  problems: SubstitutionProblem[];
}

function isRecord(value: unknown): value is Loose {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function given(provider: Loose, key: string): boolean {
  return provider[key] !== undefined && provider[key] !== '';
}

export function checkProviderRequirements(document: unknown, environment: Record<string, string | undefined>): ProviderCheck {
  const problems: SubstitutionProblem[] = [];
  if (!isRecord(document) || !isRecord(document.providers)) return { document, problems };
  const providers: Loose = {};
  for (const [name, value] of Object.entries(document.providers)) {
    providers[name] = isRecord(value) ? checkProvider(name, value, environment, problems) : value;
  }
  return { document: { ...document, providers }, problems };
}

function checkProvider(name: string, original: Loose, environment: Record<string, string | undefined>, problems: SubstitutionProblem[]): Loose {
  const type = original.type as ProviderType;
  if (typeof type !== 'string') return original; // the schema reports a missing or unknown type
  const provider = { ...original };
  const problem = (key: string, message: string) => problems.push({ path: ['providers', name, key], message });
  for (const [key, owners] of Object.entries(keyOwners)) {
    if (provider[key] !== undefined && !owners.includes(type)) problem(key, `applies only to type ${owners.join(' or ')}, not ${type}`);
  }
  if (type !== 'bedrock' && !given(provider, 'base_url')) problem('base_url', `is required for type ${type}`);
  if (type === 'azure') {
    if (!given(provider, 'api_version')) problem('api_version', 'is required for type azure (for example 2024-10-21)');
    if (!given(provider, 'api_key') && !given(provider, 'entra_token')) problem('api_key', 'type azure needs api_key (sent as api-key) or entra_token (sent as a bearer token)');
  }
  if (type === 'anthropic' && !given(provider, 'api_key')) problem('api_key', 'is required for type anthropic');
  if (type === 'bedrock') {
    if (!given(provider, 'region')) problem('region', 'is required for type bedrock (for example us-east-1); it is part of every request signature');
    // All from the config or all from the environment: a session token never pairs with another identity's key.
    if (!given(provider, 'access_key_id') && !given(provider, 'secret_access_key')) {
      for (const [key, variable] of Object.entries(awsVariables)) if (environment[variable]) provider[key] = environment[variable];
    }
    if (!given(provider, 'access_key_id') || !given(provider, 'secret_access_key')) {
      problem(given(provider, 'access_key_id') ? 'secret_access_key' : 'access_key_id', 'type bedrock needs access_key_id and secret_access_key, in the config or as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
    }
  }
  return provider;
}

/** Bedrock's public endpoint for a region, used when no base_url stands in for it. */
export function bedrockBaseUrl(region: string): string {
  return `https://bedrock-runtime.${region}.amazonaws.com`;
}
