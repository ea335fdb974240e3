import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

// Calls `onChange` once for each change of a config file's content, however
// the change is made: written in place, replaced by an editor's rename, or
// swapped in through a symlink the way the kubelet updates a mounted
// ConfigMap (`config.yaml -> ..data/config.yaml`, `..data` re-pointed). A
// watch on the file itself follows the inode it first saw, so the second
// replacement goes unseen; the folder is watched instead, and what counts is
// the content (its hash), read through the path every time. Events are
// debounced: an editor's save is several.

export interface ConfigWatcher {
  close(): void;
}

export function watchConfigFile(file: string, onChange: () => void, options: { debounceMs?: number; onError?: (error: Error) => void } = {}): ConfigWatcher {
  const debounceMs = options.debounceMs ?? 200;
  let lastHash: string | undefined;
  let pending: NodeJS.Timeout | undefined;
  let closed = false;
  const hashNow = async () =>
    createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
  void hashNow().then(
    (hash) => (lastHash ??= hash),
    () => {},
  );
  const check = async () => {
    let hash: string;
    try {
      hash = await hashNow();
    } catch {
      return; // between an editor's delete and its write: the next event reads it
    }
    if (closed || hash === lastHash) return;
    lastHash = hash;
    onChange();
  };
  const name = basename(file);
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      // The file, an editor's temporary beside it, or the kubelet's `..data` link: any may mean new content.
      if (changed !== null && changed !== name && !changed.startsWith('..') && !changed.includes(name)) return;
      clearTimeout(pending);
      pending = setTimeout(() => void check(), debounceMs);
    });
    watcher.on('error', (error) => options.onError?.(error));
  } catch (error) {
    options.onError?.(error as Error);
  }
  return {
    close() {
      closed = true;
      clearTimeout(pending);
      watcher?.close();
    },
  };
}
