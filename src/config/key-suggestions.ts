import type { z } from 'zod';

// "did you mean" for an unknown config key: the keys the schema takes at the
// unknown key's place, and the nearest of them by edit distance. The schema is
// walked through zod's own definitions (`_zod.def`, zod 4's documented
// introspection), so the suggestions can never drift from what is accepted.

type Definition = {
  type: string;
  shape?: Record<string, z.ZodType>;
  in?: z.ZodType;
  innerType?: z.ZodType;
  valueType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
};

const definitionOf = (schema: z.ZodType) => (schema as unknown as { _zod: { def: Definition } })._zod.def;

/** The object schemas a value at `path` may be checked against (several when a union allows several shapes). */
function objectsAt(schema: z.ZodType, path: readonly PropertyKey[]): Definition[] {
  const definition = definitionOf(schema);
  const inner = definition.innerType ?? definition.in;
  if (inner) return objectsAt(inner, path);
  if (definition.type === 'union') return (definition.options ?? []).flatMap((option) => objectsAt(option, path));
  if (path.length === 0) return definition.type === 'object' ? [definition] : [];
  const [head, ...rest] = path;
  if (definition.type === 'object') {
    const child = definition.shape?.[String(head)];
    return child ? objectsAt(child, rest) : [];
  }
  if (definition.type === 'record' && definition.valueType) return objectsAt(definition.valueType, rest);
  if (definition.type === 'array' && definition.element) return objectsAt(definition.element, rest);
  return [];
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

/** The known key nearest to `key` at `path`, when one is close enough to be a typo. */
export function suggestKey(schema: z.ZodType, path: readonly PropertyKey[], key: string): string | undefined {
  const known = new Set(objectsAt(schema, path).flatMap((object) => Object.keys(object.shape ?? {})));
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const found = distance(key.toLowerCase(), candidate.toLowerCase());
    if (!best || found < best.distance) best = { key: candidate, distance: found };
  }
  // A typo, not another word: at most two edits, and fewer than half the key's letters.
  return best && best.distance <= Math.min(2, Math.floor(key.length / 2)) ? best.key : undefined;
}
