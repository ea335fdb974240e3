import { z } from 'zod';
import { keyDigest, sha256HexPattern } from './key-digest.ts';
import { cacheRedisSchema, stateRedisSchema } from './redis-schema.ts';
import { parseDuration, parseSize } from './units.ts';

// The config file's shape. Every type of the gateway's config comes from here
// (z.infer), so the file, the checks and the code cannot drift apart.

function durationOf(value: number | string, context: z.RefinementCtx, alternatives = ''): number {
  const ms = parseDuration(value);
  if (ms === undefined) {
    context.addIssue({ code: 'custom', message: `"${value}" is not a duration (write 250ms, 10s, 5m, 1h, 1d or a number of ms${alternatives})` });
    return z.NEVER;
  }
  return ms;
}

const duration = z.union([z.number(), z.string()]).transform((value, context) => durationOf(value, context));

// One transform rather than a union of duration and 'adaptive': a union's error is zod's bare "Invalid input".
const hedgeAfter = z
  .union([z.number(), z.string()])
  .transform((value, context): number | 'adaptive' => (value === 'adaptive' ? value : durationOf(value, context, ', or adaptive')));

const size = z.union([z.number(), z.string()]).transform((value, context) => {
  const bytes = parseSize(value);
  if (bytes === undefined) {
    context.addIssue({ code: 'custom', message: `"${value}" is not a size (write 512kb, 25mb or a number of bytes)` });
    return z.NEVER;
  }
  return bytes;
});

/** Zod's error option giving a missing value these words (else load-config's plain "is required"). */
const missing = (message: string | undefined) => ({ error: (issue: { input?: unknown }) => (issue.input === undefined ? message : undefined) });

const httpUrl = (whenMissing?: string) =>
  z.string(missing(whenMissing)).refine((value) => /^https?:\/\/[^\s/]+/.test(value) && URL.canParse(value), { message: 'must be an http:// or https:// URL' });

const rateLimitSchema = z.strictObject({
  requests_per_second: z.number().positive(),
  burst: z.number().int().positive().optional(),
});

/** Health checks are on by default, except where probing costs money (bedrock). */
const healthCheckSchema = (enabledByDefault: boolean) =>
  z
    .strictObject({
      enabled: z.boolean().default(enabledByDefault),
      interval: duration.default(10_000),
      timeout: duration.default(5_000),
      unhealthy_threshold: z.number().int().positive().default(3),
      healthy_threshold: z.number().int().positive().default(2),
      path: z.string().optional(),
      expected_status: z.number().int().min(100).max(599).default(200),
    })
    .prefault({});

const circuitBreakerSchema = z.strictObject({
  error_rate: z.number().gt(0).max(1).default(0.2),
  min_requests: z.number().int().positive().default(20),
  window: duration.default(30_000),
  cooldown: duration.default(30_000),
});

/** A string a provider type cannot work without. */
const requiredText = (message: string) => z.string(missing(message)).min(1, message);

const requiredUrl = (type: string) => httpUrl(`is required for type ${type}`);

// Keys every provider type takes: limits, resilience, metering.
const commonKeys = {
  headers: z.record(z.string(), z.string()).default({}),
  max_concurrency: z.number().int().positive().default(256),
  /** Requests that may wait, by priority, for one of max_concurrency places; beyond it the least urgent are shed (429). */
  max_queue: z.number().int().nonnegative().default(1024),
  connect_timeout: duration.default(10_000),
  rate_limit: rateLimitSchema.optional(),
  circuit_breaker: circuitBreakerSchema.prefault({}),
  retry_budget: z.strictObject({ ratio: z.number().min(0).max(1).default(0.2), min_per_second: z.number().nonnegative().default(5) }).prefault({}),
  outlier_detection: z
    .strictObject({
      consecutive_failures: z.number().int().positive().default(5),
      base_ejection: duration.default(10_000),
      max_ejection: duration.default(300_000),
    })
    .prefault({}),
  /** How long a target that refused our credentials, balance or model (401/402/403/404) is left out. */
  failure_cooldown: duration.default(300_000),
  private: z.boolean().default(false),
  price: z.strictObject({ input_per_1k: z.number().nonnegative(), output_per_1k: z.number().nonnegative() }).optional(),
};

/**
 * `native`: the front-door APIs this provider speaks itself, whose requests
 * are passed through to it rather than translated to Chat Completions.
 * Left out, the type's default applies (see providers/native-apis.ts).
 */
const nativeList = <Api extends string>(api: Api, hint: string) => z.array(z.enum([api], { error: () => `must list only ${api} (${hint})` })).optional();

const responsesNative = nativeList(
  'responses',
  'an OpenAI-compatible API may speak the Responses API; an Anthropic-compatible endpoint is a provider of type anthropic',
);

/** A type whose API is reached at base_url with an optional key (OpenAI-compatible APIs, TGI, the WebUI). */
const keyedProvider = <Type extends string>(type: Type) =>
  z.strictObject({ type: z.literal(type), base_url: requiredUrl(type), api_key: z.string().optional(), health_check: healthCheckSchema(true), ...commonKeys });

const openaiProvider = keyedProvider('openai').extend({ native: responsesNative });
const huggingfaceProvider = keyedProvider('huggingface');
/** `api_key` "user:password" is sent as HTTP basic auth (--api-auth). */
const sdwebuiProvider = keyedProvider('sdwebui');

const azureProvider = z
  .strictObject({
    type: z.literal('azure'),
    base_url: requiredUrl('azure'),
    api_version: requiredText('is required for type azure (for example 2024-10-21)'),
    azure_api: z.enum(['deployments', 'model-inference']).default('deployments'),
    native: responsesNative,
    api_key: z.string().optional(),
    entra_token: z.string().optional(),
    health_check: healthCheckSchema(true),
    ...commonKeys,
  })
  // Checked even when other keys are wrong, so every problem is listed at once.
  .refine((provider) => Boolean(provider.api_key || provider.entra_token), {
    path: ['api_key'],
    message: 'type azure needs api_key (sent as api-key) or entra_token (sent as a bearer token)',
    when: (payload) => payload.value !== null && typeof payload.value === 'object',
  });

const anthropicProvider = z.strictObject({
  type: z.literal('anthropic'),
  base_url: requiredUrl('anthropic'),
  api_key: requiredText('is required for type anthropic'),
  anthropic_version: z.string().min(1).default('2023-06-01'),
  max_tokens_default: z.number().int().positive().optional(),
  native: nativeList('messages', "type anthropic may speak Anthropic's Messages API"),
  health_check: healthCheckSchema(true),
  ...commonKeys,
});

/** Bedrock's public endpoint for a region, used when no base_url stands in for it. */
function bedrockBaseUrl(region: string): string {
  return `https://bedrock-runtime.${region}.amazonaws.com`;
}

// Credentials left out of the file come from the standard AWS variables (aws-credentials.ts) before this runs.
const awsCredential = (key: string, variable: string) =>
  requiredText(`is required for type bedrock: set ${key} in the config or ${variable} in the environment`);

const bedrockProvider = z
  .strictObject({
    type: z.literal('bedrock'),
    /** Default: the region's public endpoint. */
    base_url: httpUrl().optional(),
    region: requiredText('is required for type bedrock (for example us-east-1); it is part of every request signature').regex(
      /^[a-z]{2}(-[a-z]+)+-\d+$/,
      'must be an AWS region such as us-east-1',
    ),
    access_key_id: awsCredential('access_key_id', 'AWS_ACCESS_KEY_ID'),
    secret_access_key: awsCredential('secret_access_key', 'AWS_SECRET_ACCESS_KEY'),
    session_token: z.string().optional(),
    max_tokens_default: z.number().int().positive().optional(),
    // Bedrock's runtime has no unbilled authenticated GET to probe: its health comes from real traffic unless enabled.
    health_check: healthCheckSchema(false),
    ...commonKeys,
  })
  .transform((provider) => ({ ...provider, base_url: provider.base_url ?? bedrockBaseUrl(provider.region) }));

/** Each provider type takes exactly its own keys; `switchyard check` names a key given to the wrong type. */
const providerOptions = [openaiProvider, azureProvider, bedrockProvider, anthropicProvider, huggingfaceProvider, sdwebuiProvider] as const;
const providerTypes = providerOptions.map((option) => ('in' in option ? option.in : option).shape.type.value);
const typeNames = `${providerTypes.slice(0, -1).join(', ')} or ${providerTypes.at(-1)}`;
const providerSchema = z.discriminatedUnion('type', providerOptions, {
  error: (issue) => {
    if (issue.code !== 'invalid_union') return undefined;
    const type = (issue.input as { type?: unknown }).type;
    return type === undefined ? `is required: ${typeNames}` : `unknown provider type ${JSON.stringify(type)}: use ${typeNames}`;
  },
});

const trafficClass = z.enum(['realtime', 'batch']);
export const trafficClasses = trafficClass.options;

const targetSchema = z.strictObject({
  provider: z.string().min(1),
  model: z.string().min(1),
  tier: z.number().int().positive().default(1),
  weight: z.number().positive().default(1),
  classes: z.array(trafficClass).min(1).default(['realtime', 'batch']),
  context_window: z.number().int().positive().optional(),
  /** How this target continues a cut stream from an assistant prefix, for routes with stream_resume. */
  resume: z.enum(['prefix', 'continue_final_message']).optional(),
  /** A canary: takes `share` of the route's traffic and is rolled back when it does worse than the rest (see routing/canaries.ts). */
  canary: z
    .strictObject({
      share: z.number().gt(0).max(1),
      min_requests: z.number().int().positive().default(50),
      max_error_rate: z.number().min(0).max(1).default(0.05),
      max_ttft_ratio: z.number().gt(0).default(2),
    })
    .optional(),
});

const retryOn = z.union([z.number().int().min(400).max(599), z.enum(['timeout', 'network'])]);

const routeSchema = z.strictObject({
  targets: z.array(targetSchema).min(1, 'a route needs at least one target'),
  balance: z.enum(['weighted', 'round-robin', 'least-busy', 'least-latency']).default('weighted'),
  retry: z
    .strictObject({
      attempts: z.number().int().min(1).max(10).default(3),
      initial_backoff: duration.default(1_000),
      max_backoff: duration.default(8_000),
      on: z.array(retryOn).default([429, 500, 502, 503, 504, 529, 'timeout', 'network']),
    })
    .prefault({}),
  // idle: the longest silence between content events once content started (keep-alives do not count).
  timeouts: z.strictObject({ first_token: duration.default(30_000), idle: duration.default(60_000), total: duration.default(600_000) }).prefault({}),
  // after: race a second target when no first token by then; on_hold: race one as soon as a target holds (default: on with 2+ targets).
  hedge: z.strictObject({ after: hedgeAfter.optional(), on_hold: z.boolean().optional() }).optional(),
  cache: z.strictObject({ ttl: duration.default(3_600_000), stale_if_error: duration.default(0) }).optional(),
  // Spend (providers' `price` × tokens) allowed per window; over it, the cheapest targets go first, or requests are refused.
  budget: z
    .strictObject({ usd: z.number().positive(), per: duration.default(86_400_000), over: z.enum(['cheapest', 'refuse']).default('cheapest') })
    .optional(),
  stream_resume: z.boolean().default(false),
});

// A gateway key is given as `key` or as `key_sha256`; after load only the digest is kept.
function exactlyOneKey(entry: { key?: string; key_sha256?: string }, context: z.RefinementCtx): void {
  if ((entry.key === undefined) === (entry.key_sha256 === undefined)) {
    context.addIssue({ code: 'custom', path: [entry.key === undefined ? 'key' : 'key_sha256'], message: 'give exactly one of key and key_sha256' });
  }
}

function keepDigestOnly<Entry extends { key?: string; key_sha256?: string }>({ key, key_sha256, ...entry }: Entry) {
  return { ...entry, key_sha256: key_sha256?.toLowerCase() ?? keyDigest(key ?? '') };
}

// Two entries with one key would make the caller's identity (its routes, limits, files) depend on their order.
function distinctKeys(entries: readonly { key_sha256: string }[], context: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  entries.forEach((entry, index) => {
    const first = seen.get(entry.key_sha256);
    if (first === undefined) seen.set(entry.key_sha256, index);
    else context.addIssue({ code: 'custom', path: [index], message: `the same key as auth.keys[${first}]; each key must be different` });
  });
}

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8700),
      body_limit: size.default(25 * 1024 * 1024),
      max_json_depth: z.number().int().min(4).max(1000).default(64),
      request_timeout: duration.default(15_000),
      keep_alive_timeout: duration.default(72_000),
      drain_timeout: duration.default(30_000),
      log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      // HTTPS on the same port: PEM files, read at start and again on SIGHUP or when they change.
      tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1), min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.3') }).optional(),
      // The admin plane (/admin, /metrics, /dashboard) on a listener of its own, which then needs no key.
      admin: z.strictObject({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535) }).optional(),
    })
    .prefault({}),
  providers: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'provider names use letters, digits, _ . -'), providerSchema),
  routes: z
    .record(z.string().min(1), routeSchema)
    .refine(
      (routes) => Object.keys(routes).length > 0,
      'no routes: add one (its name is what clients send as `model`), e.g. chat: { targets: [{ provider: NAME, model: MODEL }] }',
    ),
  cache: z
    .strictObject({ memory: z.strictObject({ max_entries: z.number().int().nonnegative().default(10_000) }).prefault({}), redis: cacheRedisSchema.optional() })
    .prefault({}),
  state: z.strictObject({ redis: stateRedisSchema.optional() }).prefault({}),
  // The Files and Batches APIs; off unless a store is named (a node:sqlite file, ':memory:', or a postgres:// URL shared by replicas).
  batches: z
    .strictObject({
      store: z.string().min(1),
      concurrency: z.number().int().min(1).max(1024).default(16),
      max_file_size: size.default(200 * 1024 * 1024),
      max_lines: z.number().int().min(1).max(1_000_000).default(50_000),
      // How long an uploaded file or a batch's result file is kept when the request names no expiry (OpenAI's default for batch files).
      file_expiry: duration.refine((ms) => ms >= 1000, 'must be at least 1s').default(30 * 86_400_000),
      // How long a claimed line (or a batch being accepted or finished) stays one gateway's without a renewal;
      // with a shared store, a line of a gateway that died is claimed again by another after this.
      lease: duration.refine((ms) => ms >= 1000, 'must be at least 1s').default(30_000),
    })
    .optional(),
  // The Responses API's kept answers (previous_response_id, GET /v1/responses/{id}): in this process,
  // or in batches.store's database when that is a file or a PostgreSQL URL (max_size then bounds each answer).
  responses: z
    .strictObject({ max_size: size.default(64 * 1024 * 1024), ttl: duration.refine((ms) => ms >= 1000, 'must be at least 1s').default(3_600_000) })
    .prefault({}),
  auth: z
    .strictObject({
      keys: z
        .array(
          z
            .strictObject({
              name: z.string().min(1),
              key: z.string().min(8, 'a key must be at least 8 characters').optional(),
              key_sha256: z.string().regex(sha256HexPattern, 'must be 64 hex digits, as `switchyard hash-key` prints').optional(),
              routes: z.array(z.string()).optional(),
              rate_limit: rateLimitSchema.optional(),
              admin: z.boolean().default(false), // may use /admin, /metrics and /dashboard
            })
            .superRefine(exactlyOneKey)
            .transform(keepDigestOnly),
        )
        .superRefine(distinctKeys),
    })
    .optional(),
});

export type Config = z.output<typeof configSchema>;
export type ProviderConfig = Config['providers'][string];
export type RouteConfig = Config['routes'][string];
export type TargetConfig = RouteConfig['targets'][number];
export type TrafficClass = z.infer<typeof trafficClass>;
export type ProviderType = ProviderConfig['type'];
/** The settings of one provider type, for the adapter of that type. */
export type ProviderConfigOf<Type extends ProviderType> = Extract<ProviderConfig, { type: Type }>;
