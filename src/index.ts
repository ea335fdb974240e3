// Switchyard as a library: the engine the `switchyard serve` command runs,
// importable by name (`import { Gateway } from 'switchyard'`) through the
// package's `exports`. A config in (a file, YAML text or an object, checked
// like `switchyard check` does), a Gateway over it, and the HTTP server, or
// the Gateway alone behind a server of your own.

export { buildConfig, ConfigError, loadConfigFile, parseConfigText } from './config/load-config.ts';
export type { Config, ProviderConfig, ProviderConfigOf, ProviderType, RouteConfig, TargetConfig, TrafficClass } from './config/schema.ts';
export { errorCodes, type ErrorCode, type ErrorCodeInfo } from './errors/error-codes.ts';
export { GatewayError } from './errors/gateway-error.ts';
export { createLogger, type Logger, type LoggerOptions } from './observability/logger.ts';
export { GatewayMetrics } from './observability/metrics.ts';
export { createSystemClock, ManualClock, type Clock, type RandomSource } from './resilience/clock.ts';
export { Gateway, type GatewayOptions } from './pipeline/gateway.ts';
export { createServer } from './server/create-server.ts';
