/**
 * One berthd per data-root: a pidfile created atomically (link(2) fails if it
 * exists), with stale files from dead daemons replaced.
 */
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('berthd') || cmd.includes('daemon/main');
  } catch {
    return false;
  }
}

/** Takes the data-root's lock or throws a message naming the running daemon. Returns the release function. */
export function lockDataRoot(dataRoot: string): () => void {
  const path = join(dataRoot, 'berthd.pid');
  const tmp = `${path}.${process.pid}`;
  writeFileSync(tmp, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(tmp, path);
        return () => {
          try {
            if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
          } catch {
            /* already gone */
          }
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const other = Number(readFileSync(path, 'utf8').trim());
        if (other && other !== process.pid && alive(other)) {
          throw new Error(
            `another berthd (pid ${other}) is already running with data-root ${dataRoot}; stop it first or use a different --data-root`,
          );
        }
        unlinkSync(path); // stale: its daemon is gone
      }
    }
    throw new Error(`cannot lock data-root ${dataRoot}`);
  } finally {
    unlinkSync(tmp);
  }
}
