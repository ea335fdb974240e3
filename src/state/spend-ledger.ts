import { RedisLink } from './redis-link.ts';

// What each route with a `budget` has spent in its current window (a fixed
// window of `per`, aligned to the Unix epoch, so a day runs midnight to
// midnight UTC). Spending is counted in this process at once; with
// `state.redis` it is also added to one Redis counter per route and window
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
  /** Spent by this process in the window since that read. */
  own: number;
}

export class SpendLedger {
  private readonly spends = new Map<string, RouteSpend>();
  private link: RedisLink | undefined;
  private linkUrl = '';
  private prefix = 'switchyard:';
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** Routes with a budget and their windows, from the current config. */
  private windows = new Map<string, number>();

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** Follows a config: the routes that have a budget, and where the replicas share their spending (if anywhere). */
  configure(windows: ReadonlyMap<string, number>, redis: { url: string; prefix: string } | undefined, onError: (error: Error) => void): void {
    this.windows = new Map(windows);
    const wanted = windows.size > 0 ? redis : undefined;
    if (this.link && (!wanted || wanted.url !== this.linkUrl || wanted.prefix !== this.prefix)) {
      void this.link.close();
      this.link = undefined;
      clearInterval(this.timer);
    }
    if (!wanted || this.link) return;
    this.link = new RedisLink({ url: wanted.url, onError });
    this.linkUrl = wanted.url;
    this.prefix = wanted.prefix;
    this.timer = setInterval(() => void this.readShared(), 1000);
    this.timer.unref();
  }

  private current(route: string): RouteSpend | undefined {
    const per = this.windows.get(route);
    if (per === undefined) return undefined;
    const windowStart = Math.floor(this.now() / per) * per;
    let spend = this.spends.get(route);
    if (!spend || spend.windowStart !== windowStart) {
      spend = { windowStart, shared: 0, own: 0 };
      this.spends.set(route, spend);
    }
    return spend;
  }

  add(route: string, usd: number): void {
    const spend = this.current(route);
    if (!spend || !(usd > 0)) return;
    spend.own += usd;
    const redis = this.link?.ready;
    if (redis) this.link!.fireAndForget(redis.multi().incrbyfloat(this.key(route, spend.windowStart), usd).pexpire(this.key(route, spend.windowStart), this.windows.get(route)! * 2).exec());
  }

  /** USD spent on the route in its current window (by every replica, as far as known). */
  spent(route: string): number {
    const spend = this.current(route);
    return spend ? spend.shared + spend.own : 0;
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

  private async readShared(): Promise<void> {
    const redis = this.link?.ready;
    if (!redis) return;
    for (const route of this.windows.keys()) {
      const spend = this.current(route)!;
      const ownBefore = spend.own;
      const total = await this.link!.within(redis.get(this.key(route, spend.windowStart)), 200);
      if (total === undefined || spend !== this.spends.get(route)) continue;
      // Our increments went out on the same connection before the GET, so the total holds what this
      // process had spent by then; what it spent while the GET was out is still its own.
      spend.shared = Number(total ?? 0);
      spend.own -= ownBefore;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.link?.close();
  }
}
