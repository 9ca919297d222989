/**
 * Network namespaces that outlive processes: each is bind-mounted on a file
 * (as `ip netns` does), so a container's network exists before its process
 * starts and after it ends.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { run, runOk } from '../process/run.js';
import { isMounted } from '../mount/mounts.js';

/** Creates a new network namespace bound at `path`, with `lo` up. Idempotent. */
export async function createNetns(path: string): Promise<void> {
  if (await isMounted(path)) return;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, '');
  // unshare creates the namespace, binds it on `path`, then runs `ip` inside it.
  await runOk(['unshare', `--net=${path}`, 'ip', 'link', 'set', 'lo', 'up']);
}

/** Unbinds and removes a namespace file; missing is fine. */
export async function deleteNetns(path: string): Promise<void> {
  if (await isMounted(path)) {
    const r = await run(['umount', path]);
    if (r.code !== 0) await run(['umount', '-l', path]);
  }
  await rm(path, { force: true });
}

/** Runs `argv` inside the namespace at `path` (tests, diagnostics; not a hot path). */
export function execInNetns(path: string, argv: string[]) {
  return run(['nsenter', `--net=${path}`, '--', ...argv]);
}
