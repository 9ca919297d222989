/**
 * Hooks into node:fs for tests of code racing a changing tree: a callback
 * runs with each path right after lstat answered for it, so a test can swap
 * a directory for a symlink at that exact step, deterministically.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { mock } from 'node:test';

/**
 * Runs `fn` with lstat calling `hook` with each path after it answers: the
 * promised one, and the synchronous one too unless `sync` is false.
 */
export async function withLstatHook<T>(
  hook: (path: string) => void,
  fn: () => Promise<T>,
  { sync = true }: { sync?: boolean } = {},
): Promise<T> {
  const real = fs.lstatSync;
  const realP = fs.promises.lstat;
  if (sync) {
    mock.method(fs, 'lstatSync', (p: fs.PathLike, o?: fs.StatSyncOptions) => {
      const st = real(p, o);
      hook(String(p));
      return st;
    });
  }
  mock.method(fs.promises, 'lstat', async (p: fs.PathLike) => {
    const st = await realP(p);
    hook(String(p));
    return st;
  });
  syncBuiltinESMExports();
  try {
    return await fn();
  } finally {
    mock.restoreAll();
    syncBuiltinESMExports();
  }
}
