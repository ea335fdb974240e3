// Bedrock's credentials may come from the standard AWS variables, as in every
// AWS tool. They are copied into the document before validation, so the
// validated config is self-contained and the schema names what is missing.

type Loose = Record<string, unknown>;

/** Standard AWS variables read when the config leaves a Bedrock credential out. */
const awsVariables = { access_key_id: 'AWS_ACCESS_KEY_ID', secret_access_key: 'AWS_SECRET_ACCESS_KEY', session_token: 'AWS_SESSION_TOKEN' } as const;

const isRecord = (value: unknown): value is Loose => value !== null && typeof value === 'object' && !Array.isArray(value);

const given = (provider: Loose, key: string) => provider[key] !== undefined && provider[key] !== '';

/** The document with each bedrock provider's missing credentials taken from the environment. */
export function withAwsCredentials(document: unknown, environment: Record<string, string | undefined>): unknown {
  if (!isRecord(document) || !isRecord(document.providers)) return document;
  const providers: Loose = {};
  for (const [name, provider] of Object.entries(document.providers)) {
    // All from the config or all from the environment: a session token never pairs with another identity's key.
    const fromEnvironment = isRecord(provider) && provider.type === 'bedrock' && !given(provider, 'access_key_id') && !given(provider, 'secret_access_key');
    providers[name] = fromEnvironment ? { ...provider, ...credentialsIn(environment) } : provider;
  }
  return { ...document, providers };
}

function credentialsIn(environment: Record<string, string | undefined>): Loose {
  const found: Loose = {};
  for (const [key, variable] of Object.entries(awsVariables)) if (environment[variable]) found[key] = environment[variable];
  return found;
}
