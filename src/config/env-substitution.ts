// `${VAR}` and `${VAR:-default}` in config string values. Substitution happens
// after YAML parsing, on values only, so a secret with YAML-special characters
// cannot change the shape of the document. An unset variable without a default
// is an error: a silently empty api_key would only fail later, upstream.

export interface SubstitutionProblem {
  path: (string | number)[];
  message: string;
}

const pattern = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function substituteEnvironment(
  value: unknown,
  environment: Record<string, string | undefined>,
  problems: SubstitutionProblem[],
  path: (string | number)[] = [],
): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    return value.replace(pattern, (_whole, name: string, fallback: string | undefined) => {
      const found = environment[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problems.push({ path, message: `environment variable ${name} is not set (write \${${name}:-} to allow it to be empty)` });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => substituteEnvironment(item, environment, problems, [...path, index]));
  if (value !== null && typeof value === 'object') {
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) result[key] = substituteEnvironment(item, environment, problems, [...path, key]);
    return result;
  }
  return value;
}
