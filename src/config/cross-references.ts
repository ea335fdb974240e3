import type { SubstitutionProblem } from './env-substitution.ts';

// References between sections (a target's provider, a key's routes). They are
// checked on the raw document, beside the schema, so that `switchyard check`
// lists them together with every shape error instead of after them.

type Loose = Record<string, unknown>;

function entries(value: unknown): [string, Loose][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.entries(value as Record<string, unknown>).filter((entry): entry is [string, Loose] => entry[1] !== null && typeof entry[1] === 'object');
}

export function checkCrossReferences(document: unknown): SubstitutionProblem[] {
  const problems: SubstitutionProblem[] = [];
  const root = (document ?? {}) as Loose;
  const providerNames = entries(root.providers).map(([name]) => name);
  const routeNames = entries(root.routes).map(([name]) => name);
  for (const [routeName, route] of entries(root.routes)) {
    const targets = Array.isArray(route.targets) ? (route.targets as unknown[]) : [];
    targets.forEach((target, index) => {
      const provider = (target as Loose | null)?.provider;
      if (typeof provider === 'string' && !providerNames.includes(provider)) {
        problems.push({
          path: ['routes', routeName, 'targets', index, 'provider'],
          message: `unknown provider "${provider}" (known: ${providerNames.join(', ') || 'none'})`,
        });
      }
    });
  }
  const keys = Array.isArray((root.auth as Loose | undefined)?.keys) ? ((root.auth as Loose).keys as unknown[]) : [];
  // A key's name is who it is: cached answers, files and batches belong to it, and a batch runs as it.
  const seenNames = new Map<string, number>();
  keys.forEach((key, index) => {
    const name = (key as Loose | null)?.name;
    if (typeof name !== 'string') return;
    const first = seenNames.get(name);
    if (first === undefined) seenNames.set(name, index);
    else
      problems.push({
        path: ['auth', 'keys', index, 'name'],
        message: `the name "${name}" is already used by auth.keys[${first}]; each key needs its own name`,
      });
  });
  keys.forEach((key, index) => {
    const routes = (key as Loose | null)?.routes;
    if (!Array.isArray(routes)) return;
    for (const route of routes) {
      if (typeof route === 'string' && !routeNames.includes(route)) {
        problems.push({ path: ['auth', 'keys', index, 'routes'], message: `unknown route "${route}" (known: ${routeNames.join(', ') || 'none'})` });
      }
    }
  });
  return problems;
}
