import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Test files write configs, logs and sqlite stores into directories of their
// own; each is removed when the test file's process exits, so a run of the
// suite leaves the machine's temporary folder as it found it.

const made: string[] = [];

/** A new empty directory under the system's temporary folder, removed at exit. */
export function tempDir(prefix: string): string {
  if (made.length === 0) process.once('exit', removeAll);
  const directory = mkdtempSync(join(tmpdir(), prefix));
  made.push(directory);
  return directory;
}

function removeAll(): void {
  for (const directory of made) rmSync(directory, { recursive: true, force: true });
}
