import type { EventTimeline } from '../observability/event-timeline.ts';
import type { Logger } from '../observability/logger.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { Clock, Timer } from '../resilience/clock.ts';
import type { TargetStatus } from '../routing/target-status.ts';
import type { ProviderClient } from '../upstream/provider-client.ts';

// Active health checks: each provider's free endpoint (a model list, /health)
// is probed every `interval`, once at start so readiness is known at once.
// The verdict lives in TargetStatus, where routing and /readyz read it.

export class HealthMonitor {
  /** The next probe's timer, by provider. */
  private readonly timers = new Map<string, Timer>();
  private readonly status: TargetStatus;
  private readonly metrics: GatewayMetrics;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly timeline: EventTimeline | undefined;

  constructor(options: { status: TargetStatus; metrics: GatewayMetrics; logger: Logger; clock: Clock; timeline?: EventTimeline }) {
    this.status = options.status;
    this.timeline = options.timeline;
    this.metrics = options.metrics;
    this.logger = options.logger;
    this.clock = options.clock;
  }

  /** Starts probing these providers, replacing any earlier set. */
  start(providers: Iterable<ProviderClient>): void {
    this.stop();
    for (const provider of providers) {
      const policy = provider.config.health_check;
      this.metrics.setHealthy(provider.name, this.status.provider(provider.name).health.healthy);
      if (!policy.enabled) continue;
      const probe = () => {
        void this.check(provider);
        this.timers.set(provider.name, this.clock.setTimer(policy.interval, probe));
      };
      probe();
    }
  }

  private async check(provider: ProviderClient): Promise<void> {
    const policy = provider.config.health_check;
    const problem = await provider.probe(provider.adapter.healthProbe(provider.config), policy.timeout);
    const health = this.status.provider(provider.name).health;
    if (health.record(problem === undefined, this.clock.epochMs(), problem)) {
      this.metrics.setHealthy(provider.name, health.healthy);
      this.timeline?.add(provider.name, health.healthy ? 'healthy again' : `unhealthy: ${problem}`);
      if (health.healthy) this.logger.info({ provider: provider.name }, `${provider.name} is healthy again`);
      else this.logger.warn({ provider: provider.name, problem }, `${provider.name} is unhealthy: ${problem}`);
    }
  }

  stop(): void {
    for (const timer of this.timers.values()) timer.cancel();
    this.timers.clear();
  }
}
