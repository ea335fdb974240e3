import { parseArgs } from 'node:util';
import { parseDuration } from '../config/units.ts';

// The `switchyard` command: serve | check | doctor | hash-key | sim (started by src/cli.ts once the Node.js version is known to do).

const usage = `usage:
  switchyard serve [--config FILE] [--port N] [--host H]
  switchyard check --config FILE
  switchyard doctor [--config FILE] [--timeout 5s] [--json]
  switchyard hash-key              (reads a key on standard input, prints its SHA-256 for auth.keys[].key_sha256)
  switchyard sim [--port N] [--busy-rate R] [--latency MS] ... (switchyard sim --help)
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
    case undefined: {
      const { values } = parseArgs({
        args: rest,
        options: { config: { type: 'string', short: 'c' }, port: { type: 'string', short: 'p' }, host: { type: 'string' } },
      });
      const port = values.port === undefined ? undefined : Number(values.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new Error(`--port must be a port number, not "${values.port}"`);
      const { serveCommand } = await import('./serve-command.ts');
      await serveCommand({ config: values.config, port, host: values.host });
      return;
    }
    case 'check': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } } });
      const { checkCommand } = await import('./check-command.ts');
      process.exitCode = await checkCommand(values.config);
      return;
    }
    case 'doctor': {
      const { values } = parseArgs({
        args: rest,
        options: { config: { type: 'string', short: 'c' }, timeout: { type: 'string', default: '5s' }, json: { type: 'boolean', default: false } },
      });
      const timeoutMs = parseDuration(values.timeout);
      if (timeoutMs === undefined || timeoutMs <= 0) throw new Error(`--timeout must be a duration such as 5s or 1500ms, not "${values.timeout}"`);
      // Each command loads only its own modules: `serve` has no use for the Redis client the checks bring, hash-key for any of it.
      const { doctorCommand } = await import('./doctor-command.ts');
      process.exitCode = await doctorCommand({ config: values.config, json: values.json, timeoutMs });
      return;
    }
    case 'hash-key': {
      const { hashKeyCommand } = await import('./hash-key-command.ts');
      process.exitCode = await hashKeyCommand();
      return;
    }
    case 'sim': {
      const { runSim } = await import('../sim/run-sim.ts');
      await runSim(rest);
      return;
    }
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(usage);
      return;
    default:
      process.stderr.write(`unknown command "${command}"\n${usage}`);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`switchyard: ${(error as Error).message}\n`);
  process.exit(1);
});
