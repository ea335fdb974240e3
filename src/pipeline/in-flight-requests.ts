import type { Cancellation } from '../resilience/cancellation.ts';

// The requests in flight, so a drain that runs out of time can interrupt
// them all. A linked list rather than a Set, for the garbage collector: a Set
// that every request enters and leaves re-allocates its table as it goes, and
// a table left behind in the old generation still points at the requests it
// held, so young-generation GCs kept each request's cancellations alive and
// promoted them (measured with bench/lab/allocations.ts --promoted: 112 KB
// promoted per scavenge against 13 KB with this list, and at times 650 KB once
// V8 began pretenuring; GC time per request fell by about a third). An entry
// unlinked here points at nothing.

export interface InFlightEntry {
  readonly interrupt: Cancellation;
  previous: InFlightEntry | undefined;
  next: InFlightEntry | undefined;
}

export class InFlightRequests {
  private head: InFlightEntry | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(interrupt: Cancellation): InFlightEntry {
    const entry: InFlightEntry = { interrupt, previous: undefined, next: this.head };
    if (this.head) this.head.previous = entry;
    this.head = entry;
    this.count += 1;
    return entry;
  }

  remove(entry: InFlightEntry): void {
    if (entry.previous) entry.previous.next = entry.next;
    else if (this.head === entry) this.head = entry.next;
    else return; // not in the list (removed twice)
    if (entry.next) entry.next.previous = entry.previous;
    entry.previous = entry.next = undefined;
    this.count -= 1;
  }

  /** Aborts every request in flight with `reason`. */
  abortAll(reason: Error): void {
    const interrupts: Cancellation[] = [];
    for (let entry = this.head; entry !== undefined; entry = entry.next) interrupts.push(entry.interrupt);
    for (const interrupt of interrupts) interrupt.abort(reason);
  }
}
