// What a simulated provider does: where it listens, which faults it injects and
// how often, and the shape of its answers. Shared by `switchyard sim`, the demo
// mode and tests, so the CLI flags and the programmatic options are one table.

export interface SimOptions {
  port: number;
  host: string;
  seed: number;
  /** Fraction of requests answered 503 "server busy" (0..1). */
  busyRate: number;
  /** Fraction of requests answered 429 "rate limit". */
  rateLimitRate: number;
  /** Seconds sent in Retry-After on 429 and 503. */
  retryAfterSeconds: number;
  /** Fraction of requests held DeepSeek-style: 200 at once, keep-alives, then the answer. */
  holdRate: number;
  holdMs: number;
  keepaliveIntervalMs: number;
  /** Median delay before anything is answered. */
  latencyMs: number;
  /** When set, latency is lognormal with p50 `latencyMs` and this p99; else fixed. */
  latencyP99Ms: number | undefined;
  /** Fraction of requests accepted and never answered. */
  hangRate: number;
  /** Fraction of requests whose connection is cut mid-answer. */
  dropRate: number;
  /** Fraction of requests that stop mid-answer and go silent with the connection open (streams: keep-alives only). */
  stallRate: number;
  /** Content chunks per stream (and words per answer). */
  chunks: number;
  chunkIntervalMs: number;
  /** Models listed by /v1/models; any other model is answered 404. */
  models: string[];
  /** When set, requests need `Authorization: Bearer <apiKey>`. */
  apiKey: string | undefined;
  /** Shown in response ids, system_fingerprint and logs. */
  name: string;
}

/** The options that may change while the provider runs (outage and recovery tests). */
export type SimFaults = Pick<
  SimOptions,
  | 'busyRate'
  | 'rateLimitRate'
  | 'retryAfterSeconds'
  | 'holdRate'
  | 'holdMs'
  | 'keepaliveIntervalMs'
  | 'latencyMs'
  | 'latencyP99Ms'
  | 'hangRate'
  | 'dropRate'
  | 'stallRate'
  | 'chunkIntervalMs'
>;

export const defaultSimOptions: Readonly<SimOptions> = Object.freeze({
  port: 8790,
  host: '127.0.0.1',
  seed: 1,
  busyRate: 0,
  rateLimitRate: 0,
  retryAfterSeconds: 1,
  holdRate: 0,
  holdMs: 4000,
  keepaliveIntervalMs: 500,
  latencyMs: 0,
  latencyP99Ms: undefined,
  hangRate: 0,
  dropRate: 0,
  stallRate: 0,
  chunks: 20,
  chunkIntervalMs: 0,
  models: Object.freeze(['sim-small', 'sim-large']) as string[],
  apiKey: undefined,
  name: 'sim',
});

type ValueKind = 'rate' | 'duration' | 'seconds' | 'port' | 'count' | 'integer' | 'text' | 'models';

// One row per flag: the option it sets and how its value is read and checked.
const flagTable: Record<string, { key: keyof SimOptions; kind: ValueKind; help: string }> = {
  '--port': { key: 'port', kind: 'port', help: 'port to listen on (0 = any free port)' },
  '--host': { key: 'host', kind: 'text', help: 'address to listen on' },
  '--seed': { key: 'seed', kind: 'integer', help: 'seed of the fault draws (same seed, same faults)' },
  '--busy-rate': { key: 'busyRate', kind: 'rate', help: 'fraction answered 503 server busy' },
  '--rate-limit-rate': { key: 'rateLimitRate', kind: 'rate', help: 'fraction answered 429 rate limit' },
  '--retry-after': { key: 'retryAfterSeconds', kind: 'seconds', help: 'Retry-After seconds on 429/503' },
  '--hold-rate': { key: 'holdRate', kind: 'rate', help: 'fraction held with keep-alives before answering' },
  '--hold': { key: 'holdMs', kind: 'duration', help: 'hold duration in ms' },
  '--keepalive-interval': { key: 'keepaliveIntervalMs', kind: 'duration', help: 'ms between keep-alives while held' },
  '--latency': { key: 'latencyMs', kind: 'duration', help: 'median ms before answering' },
  '--latency-p99': { key: 'latencyP99Ms', kind: 'duration', help: 'p99 ms: makes latency lognormal' },
  '--hang-rate': { key: 'hangRate', kind: 'rate', help: 'fraction accepted and never answered' },
  '--drop-rate': { key: 'dropRate', kind: 'rate', help: 'fraction cut off mid-answer' },
  '--stall-rate': { key: 'stallRate', kind: 'rate', help: 'fraction that stop mid-answer and stay silent, connection open (streams send keep-alives)' },
  '--chunks': { key: 'chunks', kind: 'count', help: 'content chunks per stream' },
  '--chunk-interval': { key: 'chunkIntervalMs', kind: 'duration', help: 'ms between stream chunks' },
  '--model': { key: 'models', kind: 'models', help: 'a model to serve (repeatable)' },
  '--api-key': { key: 'apiKey', kind: 'text', help: 'require this bearer key' },
  '--name': { key: 'name', kind: 'text', help: 'name in ids, fingerprint and logs' },
};

const flagOfKey = new Map(Object.entries(flagTable).map(([flag, row]) => [row.key, flag]));

export const simUsage = [
  'Usage: switchyard sim [flags]',
  ...Object.entries(flagTable).map(([flag, row]) => {
    const fallback = defaultSimOptions[row.key];
    const shown = fallback === undefined ? '' : ` (default ${Array.isArray(fallback) ? fallback.join(', ') : fallback})`;
    return `  ${flag.padEnd(22)}${row.help}${shown}`;
  }),
].join('\n');

/** Reads `switchyard sim` flags (`--flag value` or `--flag=value`); throws on anything unknown or invalid. */
export function parseSimArgs(argv: string[]): SimOptions {
  const options: SimOptions = { ...defaultSimOptions, models: [...defaultSimOptions.models] };
  let modelsGiven = false;
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index] as string;
    const equals = argument.indexOf('=');
    const flag = argument.startsWith('--') && equals > 0 ? argument.slice(0, equals) : argument;
    const row = flagTable[flag];
    if (!row) throw new Error(`sim: unknown flag "${flag}"\n${simUsage}`);
    let value: string | undefined;
    if (flag !== argument) value = argument.slice(equals + 1);
    else {
      value = argv[index + 1];
      if (value === undefined || value.startsWith('--')) throw new Error(`sim: ${flag} needs a value`);
      index++;
    }
    if (row.kind === 'models') {
      if (!modelsGiven) options.models = [];
      modelsGiven = true;
      options.models.push(value);
    } else if (row.kind === 'text') {
      (options as unknown as Record<string, unknown>)[row.key] = value;
    } else {
      const number = value.trim() === '' ? Number.NaN : Number(value);
      if (!Number.isFinite(number)) throw new Error(`sim: ${flag} needs a number, got "${value}"`);
      (options as unknown as Record<string, unknown>)[row.key] = number;
    }
  }
  validateSimOptions(options);
  return options;
}

/** Defaults plus `partial`, checked; what `createSimulatedProvider` runs with. */
export function resolveSimOptions(partial: Partial<SimOptions>): SimOptions {
  const defined = Object.fromEntries(Object.entries(partial).filter(([, value]) => value !== undefined));
  const options: SimOptions = { ...defaultSimOptions, ...defined };
  options.models = [...options.models];
  validateSimOptions(options);
  return options;
}

/** Throws an Error naming the option (and its flag) whose value is out of range. */
export function validateSimOptions(options: SimOptions): void {
  const problems: string[] = [];
  const check = (key: keyof SimOptions, kind: ValueKind) => {
    const value = options[key];
    const problem = describeProblem(value, kind);
    if (problem) problems.push(`${key} (${flagOfKey.get(key)}) ${problem}, got ${JSON.stringify(value)}`);
  };
  for (const row of Object.values(flagTable)) {
    if (row.key === 'latencyP99Ms' && options.latencyP99Ms === undefined) continue;
    if (row.key === 'apiKey' && options.apiKey === undefined) continue;
    check(row.key, row.kind);
  }
  const rateSum = options.busyRate + options.rateLimitRate + options.holdRate + options.hangRate + options.dropRate + options.stallRate;
  if (rateSum > 1 + 1e-9) problems.push(`the fault rates add up to ${rateSum}; each request gets one behaviour, so their sum must be at most 1`);
  if (options.keepaliveIntervalMs === 0) problems.push('keepaliveIntervalMs (--keepalive-interval) must be above 0');
  if (options.latencyP99Ms !== undefined && !(options.latencyMs > 0 && options.latencyP99Ms >= options.latencyMs)) {
    problems.push('latencyP99Ms (--latency-p99) needs latencyMs (--latency) above 0 and at most the p99');
  }
  if (problems.length > 0) throw new Error(`invalid simulator options: ${problems.join('; ')}`);
}

function describeProblem(value: unknown, kind: ValueKind): string | undefined {
  if (kind === 'text') return typeof value === 'string' && value !== '' ? undefined : 'must be a non-empty string';
  if (kind === 'models') {
    const valid = Array.isArray(value) && value.length > 0 && value.every((model) => typeof model === 'string' && model !== '');
    return valid ? undefined : 'must be a non-empty list of model names';
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return 'must be a number';
  switch (kind) {
    case 'rate':
      return value >= 0 && value <= 1 ? undefined : 'must be between 0 and 1';
    case 'duration':
    case 'seconds':
      return value >= 0 ? undefined : 'must be 0 or more';
    case 'port':
      return Number.isInteger(value) && value >= 0 && value <= 65535 ? undefined : 'must be an integer port 0..65535';
    case 'count':
      return Number.isInteger(value) && value >= 1 ? undefined : 'must be a whole number of at least 1';
    case 'integer':
      return Number.isInteger(value) ? undefined : 'must be a whole number';
  }
}
