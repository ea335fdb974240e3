// `switchyard sim`: parse the flags, start one simulated provider, say where it
// is and what it injects, and stop cleanly on SIGINT/SIGTERM.

import { createSimulatedProvider, type SimulatedProvider } from './simulated-provider.ts';
import { parseSimArgs, simUsage } from './sim-options.ts';

/** Starts the simulator from CLI flags; with --help only prints the usage and returns undefined. */
export async function runSim(argv: string[], log: (line: string) => void = console.log): Promise<SimulatedProvider | undefined> {
  if (argv.includes('--help') || argv.includes('-h')) {
    log(simUsage);
    return undefined;
  }
  const provider = createSimulatedProvider(parseSimArgs(argv));
  const { url } = await provider.listen();
  const { options } = provider;
  const faults = [
    ['busy', options.busyRate],
    ['rate-limited', options.rateLimitRate],
    ['hold', options.holdRate],
    ['hang', options.hangRate],
    ['drop', options.dropRate],
    ['stall', options.stallRate],
  ].filter(([, rate]) => (rate as number) > 0);
  const latency = options.latencyP99Ms === undefined ? `${options.latencyMs}ms` : `p50 ${options.latencyMs}ms, p99 ${options.latencyP99Ms}ms`;
  log(`switchyard sim "${options.name}" listening on ${url} (seed ${options.seed})`);
  log(`  models: ${options.models.join(', ')}; latency: ${latency}`);
  log(`  faults: ${faults.length === 0 ? 'none' : faults.map(([name, rate]) => `${name} ${rate}`).join(', ')}`);
  const auth = options.apiKey === undefined ? '' : ` -H 'authorization: Bearer ${options.apiKey}'`;
  log(
    `  try: curl ${url}/chat/completions${auth} -H 'content-type: application/json' -d '{"model":"${options.models[0]}","messages":[{"role":"user","content":"hi"}]}'`,
  );
  const stop = () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    void provider.close();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return provider;
}
