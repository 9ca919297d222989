/**
 * A container's runtime flags resolved when it starts (runtime-flags.ts
 * says what they mean): the host's device nodes for `--device`, the running
 * containers whose IPC or PID namespace it joins, the init binary, its
 * limits as OCI resources. Errors are dockerd's words.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { conflict, invalid } from '../common/errors.js';
import type { Json } from '../common/validate.js';
import { initBinary } from '../kernel/sysinfo.js';
import type { ContainerRepo } from './repo.js';
import { checkUlimits, ociResources } from './resources.js';
import {
  checkDevices,
  ipcMode,
  pidMode,
  sysctlsFor,
  type DeviceMapping,
  type DeviceNode,
  type RuntimeFlags,
} from './runtime-flags.js';
import type { ContainerRecord } from './types.js';

/** Linux's dev_t split (glibc's major()/minor()). */
function majorMinor(rdev: bigint): { major: number; minor: number } {
  return {
    major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
  };
}

/** One device node, or undefined when `path` is something else. */
function nodeAt(path: string, inContainer: string, permissions: string): DeviceNode | undefined {
  const st = statSync(path, { bigint: true });
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (!type) return undefined;
  return {
    path: inContainer,
    type,
    ...majorMinor(st.rdev),
    fileMode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    permissions,
  };
}

/**
 * oci.DevicesFromPath: the node a mapping names, or every node under a
 * directory (each at the same place under the container path).
 */
export function devicesFor(m: DeviceMapping): DeviceNode[] {
  const fail = (why: string) =>
    invalid(
      `error gathering device information while adding custom device "${m.PathOnHost}": ${why}`,
    );
  let isDir: boolean;
  try {
    isDir = statSync(m.PathOnHost).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fail(code === 'ENOENT' ? 'no such file or directory' : (e as Error).message);
  }
  if (!isDir) {
    const node = nodeAt(m.PathOnHost, m.PathInContainer, m.CgroupPermissions);
    if (!node) throw fail('not a device node');
    return [node];
  }
  const out: DeviceNode[] = [];
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p, join(rel, e.name));
      else if (e.isCharacterDevice() || e.isBlockDevice()) {
        const node = nodeAt(p, join(m.PathInContainer, rel, e.name), m.CgroupPermissions);
        if (node) out.push(node);
      }
    }
  };
  walk(m.PathOnHost, '');
  return out;
}

/** The PID of the running container whose namespace `c` joins (`what`: "IPC", "PID"). */
function donorPid(repo: ContainerRepo, ref: string, what: 'IPC' | 'PID'): ContainerRecord {
  const other = repo.find(ref);
  const prefix =
    what === 'IPC'
      ? `can't join IPC of container ${ref}`
      : `cannot join PID of a non running container: ${ref}`;
  if (!other) throw invalid(`${prefix}: No such container: ${ref}`);
  if (other.State.Status !== 'running') {
    throw conflict(`${prefix}: container ${other.Id} is not running`);
  }
  return other;
}

/** Everything the spec needs of the container's flags, resolved now. */
export function runtimeFlagsAtStart(
  repo: ContainerRepo,
  c: ContainerRecord,
  /** Where a container's shareable /dev/shm is mounted on the host. */
  shmDir: (id: string) => string,
): RuntimeFlags {
  const hc = c.HostConfig as Json;
  const ipc = ipcMode(hc);
  let ipcFlags: RuntimeFlags['ipc'];
  if (ipc.kind === 'container') {
    const donor = donorPid(repo, ipc.ref, 'IPC');
    if (donor.HostConfig.IpcMode !== 'shareable') {
      throw conflict(
        `can't join IPC of container ${donor.Id}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)`,
      );
    }
    ipcFlags = { kind: 'container', pid: donor.State.Pid, shm: shmDir(donor.Id) };
  } else if (hc.IpcMode === 'shareable') {
    ipcFlags = { kind: 'shareable', shm: shmDir(c.Id) };
  } else ipcFlags = { kind: ipc.kind };
  const pid = pidMode(hc);
  const pidFlags: RuntimeFlags['pid'] =
    pid.kind === 'container'
      ? { kind: 'container', pid: donorPid(repo, pid.ref, 'PID').State.Pid }
      : { kind: pid.kind === 'host' ? 'host' : 'private' };
  let init: string | undefined;
  if (hc.Init === true) {
    init = initBinary();
    if (!init) {
      throw invalid(
        'exec: "docker-init": executable file not found in $PATH (install Debian\'s tini package)',
      );
    }
  }
  return {
    resources: ociResources(hc),
    ulimits: checkUlimits(hc.Ulimits),
    oomScoreAdj: typeof hc.OomScoreAdj === 'number' ? hc.OomScoreAdj : 0,
    sysctl: sysctlsFor(hc),
    devices: checkDevices(hc.Devices).flatMap(devicesFor),
    ipc: ipcFlags,
    pid: pidFlags,
    init,
  };
}
