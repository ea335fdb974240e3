import type { z } from 'zod';

// What to say about an unknown config key: that it belongs to another provider
// type, or the nearest key that belongs there by edit distance ("did you
// mean"). The schema is walked through zod's own definitions (`_zod.def`, zod
// 4's documented introspection), so the words can never drift from what is accepted.

type Definition = {
  type: string;
  shape?: Record<string, z.ZodType>;
  in?: z.ZodType;
  innerType?: z.ZodType;
  valueType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  discriminator?: string;
  values?: unknown[];
};

type Loose = Record<string, unknown>;

const definitionOf = (schema: z.ZodType) => (schema as unknown as { _zod: { def: Definition } })._zod.def;

/** The object schemas under `schema`, through wrappers (default, pipe, optional) and unions. */
function objectsIn(schema: z.ZodType): Definition[] {
  const definition = definitionOf(schema);
  const inner = definition.innerType ?? definition.in;
  if (inner) return objectsIn(inner);
  if (definition.type === 'union') return (definition.options ?? []).flatMap(objectsIn);
  return definition.type === 'object' ? [definition] : [];
}

/** The union of object schemas a value at `path` is checked against, with the discriminator when it has one. */
function optionsAt(schema: z.ZodType, path: readonly PropertyKey[]): { objects: Definition[]; discriminator?: string } {
  const definition = definitionOf(schema);
  const inner = definition.innerType ?? definition.in;
  if (inner) return optionsAt(inner, path);
  if (definition.type === 'union') {
    if (path.length === 0) return { objects: (definition.options ?? []).flatMap(objectsIn), discriminator: definition.discriminator };
    return { objects: (definition.options ?? []).flatMap((option) => optionsAt(option, path).objects) };
  }
  if (path.length === 0) return { objects: definition.type === 'object' ? [definition] : [] };
  const [head, ...rest] = path;
  if (definition.type === 'object') {
    const child = definition.shape?.[String(head)];
    return child ? optionsAt(child, rest) : { objects: [] };
  }
  if (definition.type === 'record' && definition.valueType) return optionsAt(definition.valueType, rest);
  if (definition.type === 'array' && definition.element) return optionsAt(definition.element, rest);
  return { objects: [] };
}

/** The discriminator's value an object schema takes (its `type: z.literal(...)`). */
function literalOf(object: Definition, key: string): string | undefined {
  const field = object.shape?.[key];
  const value = field ? definitionOf(field).values?.[0] : undefined;
  return typeof value === 'string' ? value : undefined;
}

/** Levenshtein distance; keys are short, so the plain two-row table is enough. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/** The known key nearest to `key`, when one is close enough to be a typo. */
function nearest(known: Iterable<string>, key: string): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const found = distance(key.toLowerCase(), candidate.toLowerCase());
    if (!best || found < best.distance) best = { key: candidate, distance: found };
  }
  // A typo, not another word: at most two edits, and fewer than half the key's letters.
  return best && best.distance <= Math.min(2, Math.floor(key.length / 2)) ? best.key : undefined;
}

export interface UnknownKeyProblem {
  path: PropertyKey[];
  message: string;
}

/**
 * Problems for the unknown `keys` of the object `value` at `path`. A key that
 * another variant of a discriminated union takes (a provider type's own key)
 * gets its own line saying which variants take it; the others one line, each
 * with its nearest known key when there is one.
 */
export function explainUnknownKeys(schema: z.ZodType, path: readonly PropertyKey[], keys: readonly string[], value: unknown): UnknownKeyProblem[] {
  const { objects, discriminator } = optionsAt(schema, path);
  const chosen = discriminator && value !== null && typeof value === 'object' ? (value as Loose)[discriminator] : undefined;
  const own = discriminator && typeof chosen === 'string' ? objects.filter((object) => literalOf(object, discriminator) === chosen) : objects;
  const problems: UnknownKeyProblem[] = [];
  const unknown: string[] = [];
  for (const key of keys) {
    const owners =
      discriminator && own !== objects ? objects.filter((object) => object.shape?.[key] !== undefined).map((object) => literalOf(object, discriminator)) : [];
    if (owners.length > 0) problems.push({ path: [...path, key], message: `applies only to ${discriminator} ${owners.join(' or ')}, not ${String(chosen)}` });
    else unknown.push(key);
  }
  if (unknown.length > 0) {
    const known = new Set(own.flatMap((object) => Object.keys(object.shape ?? {})));
    const named = unknown.map((key) => {
      const suggestion = nearest(known, key);
      return suggestion ? `"${key}" (did you mean "${suggestion}"?)` : `"${key}"`;
    });
    problems.unshift({ path: [...path], message: `unknown key${unknown.length > 1 ? 's' : ''} ${named.join(', ')}` });
  }
  return problems;
}
