import type { RedisLink } from './redis-link.ts';

// What each route with a `budget` has spent in its current window (a fixed
// window of `per`, aligned to the Unix epoch, so a day runs midnight to
// midnight UTC). Spending is counted in this process at once; with
// `state.redis` it is also added (through the shared state's link) to one Redis counter per route and window
// (INCRBYFLOAT, fire and forget), and the replicas' total is read back every
// second, so every replica steers by what all of them spent. Redis away: each
// replica counts only its own spending.

export interface BudgetWindow {
  /** The window's length in ms. */
  per: number;
}

interface RouteSpend {
  windowStart: number;
  /** The replicas' total at the last read from Redis (0 without Redis). */
  shared: number;
  /** Added to Redis by this process after that read was sent: not in `shared` yet. */
  sent: number;
  /** Spent by this process and not sent to Redis yet (Redis not connected yet, or away, or no Redis). */
  unsent: number;
}

export class SpendLedger {
  private readonly spends = new Map<string, RouteSpend>();
  private link: RedisLink | undefined;
  private prefix = 'switchyard:';
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** Routes with a budget and their windows, from the current config. */
  private windows = new Map<string, number>();

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** Follows a config: the routes that have a budget, and the link through which replicas share their spending (if any). */
  configure(windows: ReadonlyMap<string, number>, shared: { link: RedisLink; prefix: string } | undefined): void {
    this.windows = new Map(windows);
    this.link = windows.size > 0 ? shared?.link : undefined;
    this.prefix = shared?.prefix ?? this.prefix;
    if (this.link && this.timer === undefined) {
      this.timer = setInterval(() => void this.readShared(), 1000);
      this.timer.unref();
    } else if (!this.link && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private current(route: string): RouteSpend | undefined {
    const per = this.windows.get(route);
    if (per === undefined) return undefined;
    const windowStart = Math.floor(this.now() / per) * per;
    let spend = this.spends.get(route);
    if (!spend || spend.windowStart !== windowStart) {
      spend = { windowStart, shared: 0, sent: 0, unsent: 0 };
      this.spends.set(route, spend);
    }
    return spend;
  }

  add(route: string, usd: number): void {
    const spend = this.current(route);
    if (!spend || !(usd > 0)) return;
    spend.unsent += usd;
    this.send(route, spend);
  }

  /** Adds what this process spent to the replicas' counter, if Redis is there to take it. */
  private send(route: string, spend: RouteSpend): void {
    const redis = this.link?.ready;
    if (!redis || spend.unsent === 0) return;
    const key = this.key(route, spend.windowStart);
    const amount = spend.unsent;
    spend.sent += amount;
    spend.unsent = 0;
    this.link!.track(
      redis
        .multi()
        .incrbyfloat(key, amount)
        .pexpire(key, this.windows.get(route)! * 2)
        .exec(),
    ).catch((error: unknown) => {
      // Not counted in Redis: it is still this process's own, to send again.
      spend.sent = Math.max(0, spend.sent - amount);
      spend.unsent += amount;
      this.link?.report(error as Error);
    });
  }

  /** USD spent on the route in its current window (by every replica, as far as known). */
  spent(route: string): number {
    const spend = this.current(route);
    return spend ? spend.shared + spend.sent + spend.unsent : 0;
  }

  /** Milliseconds until the route's window ends and its budget is whole again. */
  msUntilReset(route: string): number {
    const per = this.windows.get(route);
    if (per === undefined) return 0;
    const now = this.now();
    return Math.floor(now / per) * per + per - now;
  }

  private key(route: string, windowStart: number): string {
    return `${this.prefix}spend:${route}:${windowStart}`;
  }

  private reading = false;

  private async readShared(): Promise<void> {
    const redis = this.link?.ready;
    // One read at a time: two overlapping ones would both take what was sent off `sent`.
    if (!redis || this.reading) return;
    this.reading = true;
    try {
      await this.readEach(redis);
    } finally {
      this.reading = false;
    }
  }

  private async readEach(redis: NonNullable<RedisLink['ready']>): Promise<void> {
    for (const route of this.windows.keys()) {
      const spend = this.current(route)!;
      this.send(route, spend);
      const covered = spend.sent;
      const total = await this.link!.within(redis.get(this.key(route, spend.windowStart)), 200);
      if (total === undefined || spend !== this.spends.get(route)) continue;
      // Our increments went out on the same connection before the GET, so the total holds them;
      // what was sent while the GET was out is not in it yet.
      spend.shared = Number(total ?? 0);
      spend.sent -= covered;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
