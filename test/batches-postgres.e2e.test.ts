import { defineBatchTests } from './batches-suite.ts';
import { postgresKind } from './batches-harness.ts';

// The batch suite on the PostgreSQL store (each test on a schema of its own).

defineBatchTests(postgresKind);
