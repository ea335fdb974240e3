import type { Server } from 'node:https';
import { configSecrets } from '../config/config-secrets.ts';
import { ConfigError, loadConfigFile } from '../config/load-config.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import { SecretRedactor } from '../errors/redact-secrets.ts';
import { restartOnlyChanges } from '../config/restart-keys.ts';
import type { Config } from '../config/schema.ts';
import { createLogger, flushLoggerSync, type Logger } from '../observability/logger.ts';
import { Gateway } from '../pipeline/gateway.ts';
import type { AddressInfo } from 'node:net';
import { adminListener } from '../server/admin-plane.ts';
import { createServer, finishDrain, startDrain } from '../server/create-server.ts';
import { CertificateReloader } from './certificate-reloader.ts';
import { watchConfigFile } from './config-watcher.ts';
import { resolveConfigSource } from './config-source.ts';
import { demoBanner, startDemo } from './demo.ts';

// `switchyard serve`: resolve the config, start the gateway, reload on SIGHUP
// or a changed file (the config, and server.tls's certificate), drain on SIGTERM.

export interface ServeFlags {
  config?: string;
  port?: number;
  host?: string;
}

function withListenOverrides(config: Config, flags: ServeFlags): Config {
  if (flags.port === undefined && flags.host === undefined) return config;
  return Object.freeze({
    ...config,
    server: Object.freeze({ ...config.server, port: flags.port ?? config.server.port, host: flags.host ?? config.server.host }),
  });
}

export async function serveCommand(flags: ServeFlags): Promise<void> {
  let source;
  try {
    source = await resolveConfigSource(flags.config, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const demo = source.kind === 'demo' ? await startDemo({ host: flags.host ?? '127.0.0.1', port: flags.port ?? 8700 }) : undefined;
  const config = withListenOverrides(demo ? demo.config : (source as { config: Config }).config, flags);
  const redactor = new SecretRedactor();
  redactor.learn(configSecrets(config));
  const logger = createLogger({ level: config.server.log_level, redactor });
  keepServingOnStrayErrors(logger);
  const gateway = new Gateway(config, { logger, redactor });
  const app = createServer(gateway);
  const address = await app.listen({ host: config.server.host, port: config.server.port });
  const describe = source.kind === 'file' ? `config ${source.file}` : source.kind === 'environment' ? 'providers from environment keys' : 'demo';
  logger.info({ address, source: describe, routes: Object.keys(config.routes), providers: Object.keys(config.providers) }, 'switchyard listening');
  const admin = adminListener(app)?.server.address() as AddressInfo | undefined;
  if (admin)
    logger.info(
      { address: `http://${admin.family === 'IPv6' ? `[${admin.address}]` : admin.address}:${admin.port}` },
      'admin plane listening: /metrics, /admin/status, /dashboard',
    );
  if (demo) process.stderr.write(demoBanner(address));

  const certificates = config.server.tls ? new CertificateReloader(app.server as unknown as Server, config.server.tls, logger) : undefined;
  if (certificates) process.on('SIGHUP', () => certificates.reload('SIGHUP'));
  if (source.kind === 'file') watchForReload(source.file, gateway, logger, flags, certificates);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const drainMs = gateway.config.server.drain_timeout;
    startDrain(app);
    logger.info({ signal, in_flight: gateway.requestsInFlight, drain_timeout_ms: drainMs }, 'draining');
    const forced = setTimeout(() => {
      logger.warn({ in_flight: gateway.requestsInFlight }, 'drain timeout: ending the requests still in flight');
      // Streams end with an error event and every request gets its log line; then whatever is left is cut.
      gateway.interruptAll(
        new GatewayError('shutting_down', `The gateway is shutting down and its drain_timeout (${drainMs}ms) ran out; retry on another instance.`, {
          retryAfterMs: 1000,
        }),
      );
      setTimeout(() => app.server.closeAllConnections(), 500).unref();
    }, drainMs);
    forced.unref();
    // The listener closes; every answer from now on is its connection's last, so
    // connections close as their answers end, idle ones included when they bring
    // a request (src/server/connection-drain.ts). Once nothing is in flight and
    // no request has come for half a second, the idle ones left are closed. A
    // connection still open after that carries nothing (a client that connected
    // and never sent a request): give writes a moment, then cut it.
    const closed = app.close();
    await finishDrain(app, { idle: () => gateway.idle(), quietMs: 500 });
    const cut = setTimeout(() => app.server.closeAllConnections(), 1000);
    await closed;
    clearTimeout(cut);
    clearTimeout(forced);
    await gateway.close();
    await demo?.close();
    logger.info('stopped');
    flushLoggerSync(logger);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

function watchForReload(file: string, gateway: Gateway, logger: Logger, flags: ServeFlags, certificates: CertificateReloader | undefined): void {
  const reload = async (reason: string) => {
    try {
      const next = withListenOverrides(await loadConfigFile(file), flags);
      const waiting = restartOnlyChanges(gateway.config, next);
      if (waiting.length > 0) logger.warn({ keys: waiting }, `${waiting.join(', ')} changed: these take effect on restart only; the rest is applied now`);
      gateway.reload(next);
      // The certificate files may have moved: read and watched where the new config says.
      if (next.server.tls) certificates?.retarget(next.server.tls);
      // The log level is the process's: it follows the config at once.
      logger.level = next.server.log_level;
      gateway.metrics.countConfigReload('success');
      logger.info(
        { reason, config_hash: gateway.status().config_hash, routes: Object.keys(next.routes), providers: Object.keys(next.providers) },
        'config reloaded',
      );
    } catch (error) {
      gateway.metrics.countConfigReload('failure');
      const problems = error instanceof ConfigError ? error.problems : [(error as Error).message];
      logger.error({ reason, problems }, 'config reload refused; the previous config keeps serving');
    }
  };
  process.on('SIGHUP', () => void reload('SIGHUP'));
  watchConfigFile(file, () => void reload('file changed'), {
    onError: (error) => logger.warn({ file, error: error.message }, 'cannot watch the config file; reload with SIGHUP'),
  });
}

/**
 * The last resort: an error no code path caught is a bug, but one request's
 * bug must not stop every other request. It is logged loudly and the
 * process goes on serving (each request's own failures are answered and
 * logged where they happen; this catches only what escaped them).
 */
function keepServingOnStrayErrors(logger: Logger): void {
  process.on('uncaughtException', (error) => logger.error({ err: error }, 'uncaught exception (a bug); still serving'));
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection (a bug); still serving'));
}
