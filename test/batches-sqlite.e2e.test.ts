import { defineBatchTests } from './batches-suite.ts';
import { sqliteKind } from './batches-harness.ts';

// The batch suite on the node:sqlite store (one gateway process per store file).

defineBatchTests(sqliteKind);
