import type { Cancellation } from '../resilience/cancellation.ts';

/** Waits `ms`, or less when `cancel` aborts first. Never rejects. */
export function sleep(ms: number, cancel: Cancellation): Promise<void> {
  if (cancel.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      cancel.off(done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    cancel.onAbort(done);
  });
}
