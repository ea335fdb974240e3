import type { Cancellation } from '../resilience/cancellation.ts';
import { setDeadline } from '../resilience/deadline-timers.ts';

/** Waits `ms`, or less when `cancel` aborts first. Never rejects. */
export function sleep(ms: number, cancel: Cancellation): Promise<void> {
  if (cancel.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      timer.cancel();
      cancel.off(done);
      resolve();
    };
    const timer = setDeadline(ms, done);
    cancel.onAbort(done);
  });
}
