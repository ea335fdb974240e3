import { monitorEventLoopDelay } from 'node:perf_hooks';

// This process's own load, for incident summaries that must tell a provider's
// trouble from ours: the share of one CPU used and the event loop's p99 delay,
// per 10-second period, the last minute of them.

const periodMs = 10_000;
const keptReadings = 6;

export interface LoadReading {
  /** Wall-clock ms at the end of the period. */
  at: number;
  /** CPU time over wall time, 1 = one core busy. */
  cpu: number;
  eventLoopP99Ms: number;
}

export class ProcessLoad {
  private readonly delay = monitorEventLoopDelay({ resolution: 20 });
  private timer: NodeJS.Timeout | undefined;
  private lastCpu = process.cpuUsage();
  private lastAt = performance.now();
  /** The last minute's readings, oldest first. */
  readonly readings: LoadReading[] = [];

  start(): void {
    if (this.timer) return;
    this.delay.enable();
    this.timer = setInterval(() => this.sample(), periodMs);
    this.timer.unref();
  }

  private sample(): void {
    const now = performance.now();
    const cpu = process.cpuUsage(this.lastCpu);
    this.readings.push({
      at: Date.now(),
      cpu: (cpu.user + cpu.system) / 1000 / Math.max(1, now - this.lastAt),
      eventLoopP99Ms: this.delay.percentile(99) / 1e6,
    });
    if (this.readings.length > keptReadings) this.readings.shift();
    this.lastCpu = process.cpuUsage();
    this.lastAt = now;
    this.delay.reset();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.delay.disable();
  }
}
