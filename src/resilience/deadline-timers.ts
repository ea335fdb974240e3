// A request's timers (its total deadline, first_token, the hedge delay, retry
// backoff, waiting for an identical request's cached answer) on one Node.js
// timer. Why not a setTimeout each: every Node timer is an async resource,
// reads the loop clock through C++, and flips the loop's timer reference
// through C++ whenever the timer lists fill or empty, which at low concurrency
// is every request. Two timers per request cost ~6k instructions (2.4% of a
// request) and ~4 µs of a one-connection request's path (docs/performance-log.md,
// hot-path log). Most have one of a few lengths (a route's timeouts), and
// timers of one length fall due in the order they were set: a FIFO list per
// length is sorted for free, cancelling unlinks in O(1), and the one timer is
// re-armed only when a new deadline is sooner than the one it waits for. When
// it fires early for a deadline since cancelled, it re-arms for the next.
// It is unref'd: a deadline never holds the process open by itself. Each
// gateway's clock has its own (see createSystemClock).

import type { Timer } from './clock.ts';

class Deadline implements Timer {
  readonly at: number;
  readonly fire: () => void;
  list: DeadlineList | undefined;
  previous: Deadline | undefined;
  next: Deadline | undefined;

  constructor(at: number, fire: () => void, list: DeadlineList) {
    this.at = at;
    this.fire = fire;
    this.list = list;
  }

  cancel(): void {
    this.list?.remove(this);
  }
}

class DeadlineList {
  head: Deadline | undefined;
  tail: Deadline | undefined;

  append(deadline: Deadline): void {
    deadline.previous = this.tail;
    if (this.tail) this.tail.next = deadline;
    else this.head = deadline;
    this.tail = deadline;
  }

  remove(deadline: Deadline): void {
    if (deadline.previous) deadline.previous.next = deadline.next;
    else this.head = deadline.next;
    if (deadline.next) deadline.next.previous = deadline.previous;
    else this.tail = deadline.previous;
    deadline.list = deadline.previous = deadline.next = undefined;
  }
}

export class DeadlineTimers {
  /** One list per deadline length in whole milliseconds; empty ones are dropped when the timer fires. */
  private readonly lists = new Map<number, DeadlineList>();
  private timer: NodeJS.Timeout | undefined;
  /** performance.now() at which the timer fires; undefined when it is not armed. */
  private armedAt: number | undefined;

  /** Runs `fire` once, `ms` from now (whole milliseconds, at least 1), unless cancelled first. */
  set(ms: number, fire: () => void): Timer {
    const length = Math.max(1, Math.ceil(ms));
    let list = this.lists.get(length);
    if (list === undefined) {
      list = new DeadlineList();
      this.lists.set(length, list);
    }
    const deadline = new Deadline(performance.now() + length, fire, list);
    list.append(deadline);
    if (this.armedAt === undefined || deadline.at < this.armedAt) this.arm(deadline.at);
    return deadline;
  }

  /** The list whose first deadline is the soonest of those due by `due`. */
  private soonestDue(due: number): DeadlineList | undefined {
    let soonest: DeadlineList | undefined;
    for (const list of this.lists.values()) if (list.head && list.head.at <= due && (!soonest || list.head.at < soonest.head!.at)) soonest = list;
    return soonest;
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedAt = at;
    this.timer = setTimeout(() => this.fireDue(), Math.max(1, Math.ceil(at - performance.now())));
    this.timer.unref();
  }

  private fireDue(): void {
    this.timer = undefined;
    this.armedAt = undefined;
    // Node runs a timer when its whole milliseconds are up on the loop's clock, which is read
    // once per turn: up to a millisecond before performance.now() says so. Due within 1 ms is due.
    const due = performance.now() + 1;
    // In deadline order across lengths: a timer that fires late (a busy loop) may find several lists due.
    for (let next = this.soonestDue(due); next !== undefined; next = this.soonestDue(due)) {
      const deadline = next.head!;
      next.remove(deadline);
      try {
        deadline.fire();
      } catch (error) {
        // As a throwing setTimeout callback would, but after the other due deadlines have run.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
    for (const [length, list] of this.lists) if (list.head === undefined) this.lists.delete(length);
    // A callback may have set a new deadline (and armed for it); arm for the soonest left unless that is sooner.
    let soonest: number | undefined;
    for (const list of this.lists.values()) if (list.head && (soonest === undefined || list.head.at < soonest)) soonest = list.head.at;
    if (soonest !== undefined && (this.armedAt === undefined || soonest < this.armedAt)) this.arm(soonest);
  }
}
