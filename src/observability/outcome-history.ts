// The last hour of outcomes per subject (a provider's attempts by outcome
// code, a route's answers from cache), in one-minute buckets: what an
// incident summary reads to say since when something went wrong and which
// codes it was. One Map lookup and an increment per record; a subject holds at
// most 60 buckets of a few codes each.

const minuteMs = 60_000;
const keptMinutes = 60;

interface Bucket {
  minute: number;
  counts: Map<string, number>;
}

export interface OutcomeTotals {
  total: number;
  counts: Map<string, number>;
  /** Wall-clock ms of the first and last minute in which anything counted. */
  first: number | undefined;
  last: number | undefined;
}

export class OutcomeHistory {
  private readonly subjects = new Map<string, Bucket[]>();
  private readonly wallClock: () => number;

  constructor(wallClock: () => number = Date.now) {
    this.wallClock = wallClock;
  }

  record(subject: string, outcome: string): void {
    const minute = Math.floor(this.wallClock() / minuteMs);
    let buckets = this.subjects.get(subject);
    if (buckets === undefined) {
      buckets = [];
      this.subjects.set(subject, buckets);
    }
    let bucket = buckets[buckets.length - 1];
    if (bucket === undefined || bucket.minute !== minute) {
      bucket = { minute, counts: new Map() };
      buckets.push(bucket);
      while (buckets.length > 0 && buckets[0]!.minute <= minute - keptMinutes) buckets.shift();
    }
    bucket.counts.set(outcome, (bucket.counts.get(outcome) ?? 0) + 1);
  }

  /** Counts over the last `minutes` minutes (this one included), optionally only the minutes `keep` accepts. */
  totals(subject: string, minutes: number, keep: (counts: ReadonlyMap<string, number>) => boolean = () => true): OutcomeTotals {
    const from = Math.floor(this.wallClock() / minuteMs) - minutes + 1;
    const totals: OutcomeTotals = { total: 0, counts: new Map(), first: undefined, last: undefined };
    for (const bucket of this.subjects.get(subject) ?? []) {
      if (bucket.minute < from || !keep(bucket.counts)) continue;
      totals.first ??= bucket.minute * minuteMs;
      totals.last = bucket.minute * minuteMs;
      for (const [outcome, count] of bucket.counts) {
        totals.counts.set(outcome, (totals.counts.get(outcome) ?? 0) + count);
        totals.total += count;
      }
    }
    return totals;
  }

  forget(subject: string): void {
    this.subjects.delete(subject);
  }
}
