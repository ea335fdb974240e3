import type { ProviderConfig } from '../config/schema.ts';
import type { CheckResult } from './doctor-checks.ts';

// Two mistakes that look like an outage on the first request: a target's model
// that the provider does not have (every request to it is a 404, and the target
// is left out for failure_cooldown), and a base_url without the /v1 that
// OpenAI-compatible APIs live under (every path is a 404).

/** A model some route's target asks of this provider, and where the config says so. */
export interface TargetModel {
  model: string;
  path: string;
}

/** Said after a 404 from the health endpoint of an OpenAI-compatible API whose base_url has no version segment. */
export function versionHint(config: ProviderConfig, statusCode: number): string {
  if (config.type !== 'openai' || statusCode !== 404) return '';
  const url = new URL(config.base_url);
  if (/\/v\d+[a-z]*\/?$/.test(url.pathname)) return '';
  return `; OpenAI-compatible APIs usually live under /v1: try base_url ${url.origin}${url.pathname.replace(/\/+$/, '')}/v1`;
}

/** The OpenAI-style model list (`GET {base_url}/models`) against the models the routes ask this provider for. */
export async function checkModelList(
  config: ProviderConfig,
  headers: Record<string, string>,
  targets: readonly TargetModel[],
  timeoutMs: number,
): Promise<CheckResult> {
  const url = `${config.base_url.replace(/\/+$/, '')}/models`;
  let ids: string[];
  try {
    const answer = await fetch(url, { headers, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    const body = (await answer.json()) as { data?: { id?: unknown }[] };
    if (!answer.ok || !Array.isArray(body.data))
      return { check: 'models', verdict: 'skip', detail: `not checked: GET /models answered ${answer.status} without a model list` };
    ids = body.data.map((entry) => String(entry.id));
  } catch (error) {
    return { check: 'models', verdict: 'skip', detail: `not checked: the model list could not be read (${(error as Error).message})` };
  }
  const missing = targets.filter((target) => !ids.includes(target.model));
  const listed = `${ids.slice(0, 5).join(', ')}${ids.length > 5 ? `, … (${ids.length} in all)` : ''}`;
  if (missing.length === 0)
    return { check: 'models', verdict: 'ok', detail: `lists every model the routes use (${[...new Set(targets.map((target) => target.model))].join(', ')})` };
  const named = missing.map((target) => `"${target.model}" (${target.path})`).join(', ');
  return {
    check: 'models',
    verdict: 'fail',
    detail: `${named} not in its model list (${listed || 'empty'}): requests for it will fail with 404; check the model's name`,
  };
}
