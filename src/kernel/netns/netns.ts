/**
 * Network namespaces that outlive processes: each is bind-mounted on a file
 * (as `ip netns` does), so a container's network exists before its process
 * starts and after it ends. Created in-process (no helper process per container).
 */
import { closeSync, mkdirSync, openSync, statfsSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { run } from '../process/run.js';
import { createBoundNetns, umount, MNT_DETACH } from '../sys/libc.js';

/** Creates a new network namespace bound at `path`, with `lo` up. */
export function createNetns(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, '');
  createBoundNetns(path, (p) => openSync(p, 'r'), closeSync);
}

/** Unbinds and removes a namespace file; missing, or a file never bound (a crash between the two), is fine. */
export async function deleteNetns(path: string): Promise<void> {
  if (isNetns(path)) {
    try {
      umount(path);
    } catch {
      umount(path, MNT_DETACH);
    }
  }
  await rm(path, { force: true });
}

/** The magic number of nsfs, the filesystem of namespace files. */
const NSFS_MAGIC = 0x6e736673;

/** Whether `path` is a bound namespace (not a plain file, nor missing). */
export function isNetns(path: string): boolean {
  try {
    return statfsSync(path).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

/** Runs `argv` inside the namespace at `path` (tests, diagnostics; not a hot path). */
export function execInNetns(path: string, argv: string[]) {
  return run(['nsenter', `--net=${path}`, '--', ...argv]);
}
