/**
 * The lab's record on disk. `lab.json` is written before anything is created
 * and removed after everything else is gone, so a lab killed at any moment can
 * still be found and removed by `cleanAll()` from another process.
 */
import { readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where every lab keeps its state, daemon data-roots and sockets. */
export const LAB_ROOT = '/var/lib/berth-lab';

/** Lab names double as interface-name prefixes, which the kernel caps at 15 bytes. */
export const NAME_RE = /^[a-z][a-z0-9]{1,9}$/;

/** Most hosts a lab may have (addresses 198.51.100.11 to .210). */
export const MAX_HOSTS = 200;

/** A process the lab started, identified by PID and kernel start time. */
export interface ProcRecord {
  /** Process id. */
  pid: number;
  /** Start time from /proc/PID/stat (clock ticks since boot); guards against PID reuse. */
  start: number;
}

/** One simulated machine: a network namespace with an uplink to the world. */
export interface LabHost {
  /** Namespace name, `<lab>-h<index>`. */
  name: string;
  /** 1-based host number. */
  index: number;
  /** Path of the namespace's bind mount, for `nsenter --net=`. */
  netns: string;
  /** The host's address on the lab's shared segment (on its `eth0`). */
  ip: string;
  /** The host's private directory under the lab dir (daemon data, sockets, logs). */
  dir: string;
  /** Name of the host's uplink inside the world namespace (the veth end on br0). */
  uplink: string;
}

/** The namespace playing "the internet": a bridge joining every host's uplink. */
export interface LabWorld {
  /** Namespace name, `<lab>-w`. */
  name: string;
  /** Path of the namespace's bind mount. */
  netns: string;
  /** The world's address on the shared segment; every host's default gateway. */
  ip: string;
  /** A further address on the world's `lo`, for "internet" servers (203.0.113.1). */
  internetIp: string;
}

/** A daemon started in a host, as recorded for cleanup. */
export interface DaemonRecord extends ProcRecord {
  /** Name of the host namespace it runs in. */
  host: string;
  /** Unix socket path it serves the API on. */
  socket: string;
  /** Its --data-root. */
  dataRoot: string;
  /** Its --exec-root (runc root and shim pid files live below it). */
  execRoot: string;
  /** Where its stdout and stderr go. */
  log: string;
}

/** An etcd member the lab runs in a host of a cluster lab. */
export interface EtcdRecord extends ProcRecord {
  /** Host namespace it runs in. */
  host: string;
  /** Member name (the host's namespace name). */
  name: string;
  /** Client URL (`http://<host ip>:2379`). */
  clientUrl: string;
  /** Its --data-dir, under the host's directory. */
  dataDir: string;
  /** Its output. */
  log: string;
}

/** What a cluster lab adds: the underlay switch and the etcd members. */
export interface LabCluster {
  /** Namespace of the underlay switch (`<lab>-u`, a bridge with every host's and the world's port). */
  switch: string;
  /** The underlay subnet, 192.168.205.0/24 as in the seed. */
  subnet: string;
  /** Etcd members started, one per host from h1 (recorded before readiness is awaited). */
  etcd: EtcdRecord[];
}

/** The content of `<dir>/lab.json`. */
export interface LabState {
  /** Format version of this file. */
  version: 1;
  /** The lab's unique name and prefix. */
  name: string;
  /** The lab directory, `LAB_ROOT/<name>`. */
  dir: string;
  /** ISO time of creation. */
  created: string;
  /**
   * The process that owns the lab; when it is gone the lab is an orphan that
   * `cleanAll()` removes. Null for labs meant to outlive their creator (`lab up`).
   */
  owner: ProcRecord | null;
  /** Every namespace name the lab created or is about to create. */
  namespaces: string[];
  /** The world namespace. */
  world: LabWorld;
  /** The hosts, in index order. */
  hosts: LabHost[];
  /** Daemons started and not yet stopped through the lab. */
  daemons: DaemonRecord[];
  /** Every exec-root any daemon of this lab used (runc containers are found there). */
  execRoots: string[];
  /** Present in a cluster lab (`Lab.create({ cluster: true })`). */
  cluster?: LabCluster;
}

/** The state file of lab `name`. */
export function stateFile(dir: string): string {
  return join(dir, 'lab.json');
}

/** Writes the state atomically so a crash never leaves half a file. */
export function writeState(state: LabState): void {
  const file = stateFile(state.dir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  renameSync(tmp, file);
}

/** Reads a lab's state; undefined when the file is missing or unreadable. */
export function readState(dir: string): LabState | undefined {
  try {
    const s = JSON.parse(readFileSync(stateFile(dir), 'utf8')) as LabState;
    return s.version === 1 && typeof s.name === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Names of every directory under LAB_ROOT that looks like a lab. */
export function labDirNames(): string[] {
  try {
    return readdirSync(LAB_ROOT, { withFileTypes: true })
      .filter((e) => e.isDirectory() && NAME_RE.test(e.name))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}
