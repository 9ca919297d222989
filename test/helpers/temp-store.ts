/** Embedded (SQLite) stores in temporary directories, removed after the file's tests. */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedStore } from '../../src/store/index.js';
import type { KvStore } from '../../src/store/types.js';

/** A function that opens a fresh store in a directory named `berth-<name>-…`. */
export function tempStores(name: string): () => Promise<KvStore> {
  const dirs: string[] = [];
  // Only the store's own files are in them: nothing is mounted there.
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return async () => {
    const d = mkdtempSync(join(tmpdir(), `berth-${name}-`));
    dirs.push(d);
    return openEmbeddedStore(d);
  };
}
