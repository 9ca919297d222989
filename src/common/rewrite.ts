import { closeSync, constants, ftruncateSync, openSync, writeSync } from 'node:fs';

/**
 * Replaces a small file's content in place, keeping its inode (it may be
 * bind-mounted into a container), creating it if missing. It writes over the
 * old bytes and then truncates to the new length instead of opening with
 * O_TRUNC: on ext4 a file truncated to zero and written again is flushed when
 * it is closed (auto_da_alloc), ~0.1 ms a file against ~0.01 ms this way.
 * Like O_TRUNC, a reader may see a mix of old and new meanwhile.
 */
export function rewriteSync(path: string, text: string): void {
  const data = Buffer.from(text);
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT, 0o644);
  try {
    let done = 0;
    while (done < data.length) done += writeSync(fd, data, done, data.length - done, done);
    ftruncateSync(fd, data.length);
  } finally {
    closeSync(fd);
  }
}
