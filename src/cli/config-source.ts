import { existsSync } from 'node:fs';
import { buildConfig, loadConfigFile } from '../config/load-config.ts';
import { configFromEnvironment } from '../config/from-environment.ts';
import type { Config } from '../config/schema.ts';

// Where `serve` gets its config, in order: --config, $SWITCHYARD_CONFIG,
// ./switchyard.yaml, provider keys in the environment, else the demo.

export type ConfigSource = { kind: 'file'; file: string; config: Config } | { kind: 'environment'; config: Config } | { kind: 'demo' };

export async function resolveConfigSource(flag: string | undefined, environment: NodeJS.ProcessEnv): Promise<ConfigSource> {
  const file = flag ?? environment.SWITCHYARD_CONFIG ?? (existsSync('switchyard.yaml') ? 'switchyard.yaml' : undefined);
  if (file) return { kind: 'file', file, config: await loadConfigFile(file, environment) };
  const document = configFromEnvironment(environment);
  if (document) return { kind: 'environment', config: buildConfig(document, 'environment', environment) };
  return { kind: 'demo' };
}
