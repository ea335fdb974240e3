import type { FastifyInstance } from 'fastify';
import type { BatchStore } from '../batch/batch-store.ts';
import { DatabaseResponseStore } from '../batch/database-response-store.ts';
import { SweepLoop } from '../batch/sweep-loop.ts';
import { MemoryResponseStore, type ResponseStore } from '../front-doors/response-store.ts';
import type { Gateway } from '../pipeline/gateway.ts';

// Where the Responses API keeps its answers: in the batch store's database
// when batches.store names a file or a PostgreSQL URL (a conversation then
// survives restarts, and with PostgreSQL continues on any replica), else in
// this process, bounded by responses.max_size. A `:memory:` batch store keeps
// nothing across restarts either, so answers stay in the bounded memory
// store. Chosen at start, like the batch store itself (restart-keys.ts).

/** Expired answers removed per sweep, and how often the sweep comes. */
const responsesPerSweep = 500;
const sweepIntervalMs = 60_000;

export function openResponseStore(app: FastifyInstance, gateway: Gateway, batchStore: BatchStore | undefined): ResponseStore {
  const settings = gateway.config.responses;
  const now = () => gateway.clock.epochMs();
  if (!batchStore || batchStore.location === ':memory:') return new MemoryResponseStore({ maxBytes: settings.max_size, ttlMs: settings.ttl, now });
  const logger = gateway.logger;
  const store = new DatabaseResponseStore(batchStore.responseTable(), { maxBytes: settings.max_size, ttlMs: settings.ttl, now, logger });
  const sweeper = new SweepLoop({
    sweep: async () => {
      const removed = await store.removeExpired(responsesPerSweep);
      if (removed > 0) logger.debug({ responses: removed }, 'responses: removed expired responses from the store');
      return removed;
    },
    limit: responsesPerSweep,
    intervalMs: sweepIntervalMs,
    failed: (error) => logger.warn({ err: { message: error.message } }, 'responses: removing expired responses failed; tried again later'),
  });
  void sweeper.start();
  // Stopped before the batch store closes (in onClose, after requests have finished).
  app.addHook('preClose', (done) => {
    sweeper.stop();
    done();
  });
  logger.info({ store: batchStore.location }, 'responses: kept in batches.store');
  return store;
}
