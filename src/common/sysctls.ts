/**
 * The sysctls that belong to a container's IPC namespace, as runc and the
 * docker CLI's ValidateSysctl list them: the System V IPC ones and every
 * `fs.mqueue.*`. Shared by the CLI's flag check and the daemon's.
 */
const IPC_SYSCTLS: ReadonlySet<string> = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

/** Whether sysctl `key` is one of the IPC namespace's. */
export function isIpcSysctl(key: string): boolean {
  return IPC_SYSCTLS.has(key) || key.startsWith('fs.mqueue.');
}
