import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { TestContext } from 'node:test';

// Tests that need the real Redis on 127.0.0.1:6379. On a laptop without one
// they skip, saying why; with CI set they must run, so a missing Redis fails.

export const localRedisUrl = 'redis://127.0.0.1:6379';

function redisListening(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: 6379 }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** true when the test can go on; false when it was skipped for want of Redis. */
export async function needsLocalRedis(context: TestContext): Promise<boolean> {
  if (await redisListening()) return true;
  if (process.env.CI) assert.fail('CI is set but no Redis answers on 127.0.0.1:6379');
  context.skip('no Redis on 127.0.0.1:6379 (CI runs this with Redis)');
  return false;
}
