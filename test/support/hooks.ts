import { after, before } from 'node:test';

/**
 * A test file's setup and teardown, as `before` and `after`, except that the
 * teardown waits for the setup. When --test-name-pattern leaves none of a
 * file's tests to run, node:test still starts the root `before` but runs
 * `after` without waiting for it: the teardown found nothing to close, the
 * servers the setup went on to start kept the process alive, and the run hung.
 */
export function beforeAndAfter(setup: () => Promise<void>, teardown: () => Promise<void>): void {
  let setting: Promise<void> | undefined;
  before(() => (setting = setup()));
  after(async () => {
    // A setup that failed has already failed its hook; close what it opened.
    await setting?.catch(() => undefined);
    await teardown();
  });
}
