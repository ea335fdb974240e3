import type { Cancellation } from '../resilience/cancellation.ts';
import type { Clock } from '../resilience/clock.ts';

/** Waits `ms` on `clock`, or less when `cancel` aborts first. Never rejects. */
export function sleep(ms: number, cancel: Cancellation, clock: Clock): Promise<void> {
  if (cancel.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      timer.cancel();
      cancel.off(done);
      resolve();
    };
    const timer = clock.setTimer(ms, done);
    cancel.onAbort(done);
  });
}
