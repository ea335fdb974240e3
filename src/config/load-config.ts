import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { withAwsCredentials } from './aws-credentials.ts';
import { checkCrossReferences } from './cross-references.ts';
import { explainUnknownKeys } from './key-suggestions.ts';
import { substituteEnvironment, type SubstitutionProblem } from './env-substitution.ts';
import { configSchema, type Config } from './schema.ts';

// Config is validated once, every problem listed with its path, then frozen:
// nothing on the request path can change it, and a reload swaps the whole value.

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`${source}: ${problems.length} config error${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** `routes.chat.targets[1].provider` */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const part of path) {
    if (typeof part === 'number') text += `[${part}]`;
    else text += text === '' ? String(part) : `.${String(part)}`;
  }
  return text || '(root)';
}

/** One line per problem; an issue of several unknown keys may say something different of each. */
function describeIssue(issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'unrecognized_keys') {
    return explainUnknownKeys(configSchema, issue.path, issue.keys, issue.input).map((problem) => `${formatPath(problem.path)}: ${problem.message}`);
  }
  return [`${formatPath(issue.path)}: ${issue.message}`];
}

/** Zod's words for a missing key, where the schema gives none of its own. */
const plainWords = (issue: z.core.$ZodRawIssue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined);

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** Validates a parsed document (from a file, from the environment or built by the demo). */
export function buildConfig(document: unknown, source: string, environment: Record<string, string | undefined> = process.env): Config {
  const substitutionProblems: SubstitutionProblem[] = [];
  const substituted = withAwsCredentials(substituteEnvironment(document ?? {}, environment, substitutionProblems), environment);
  const problems = [...substitutionProblems, ...checkCrossReferences(substituted)].map((problem) => `${formatPath(problem.path)}: ${problem.message}`);
  const result = configSchema.safeParse(substituted, { reportInput: true, error: plainWords });
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(...describeIssue(issue));
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(source, problems);
  return deepFreeze(result.data);
}

export function parseConfigText(text: string, source: string, environment?: Record<string, string | undefined>): Config {
  let document: unknown;
  try {
    document = parseYaml(text, { prettyErrors: true, maxAliasCount: 100 });
  } catch (error) {
    // The position only: the parser's snippet of the file can hold an inline key, and this text reaches logs.
    const where = (error as Error).message.split('\n')[0]!.replace(/:$/, '');
    throw new ConfigError(source, [`not valid YAML or JSON: ${where}`]);
  }
  return buildConfig(document, source, environment);
}

export async function loadConfigFile(file: string, environment?: Record<string, string | undefined>): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read the file: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`]);
  }
  return parseConfigText(text, file, environment);
}
