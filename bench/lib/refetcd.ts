/**
 * A one-member etcd (Debian's etcd-server 3.4) for the reference dockerd's
 * legacy cluster store, run inside a lab host's network namespace and
 * listening on that host's lab address only (clients :2379, peers :2380). The
 * v2 API is enabled: dockerd 20.10's libkv speaks only v2. Its data dir lives
 * under the host's lab directory; stop() ends it by PID and removes the dir.
 */
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, LabHost } from '../../src/lab/lab.js';
import { isAlive, procStartTime, run, stopProcess } from '../../src/lab/proc.js';

/** A running reference etcd. */
export interface RefEtcd {
  pid: number;
  /** Kernel start time of that PID, so a recycled PID is never signalled. */
  start: number;
  /** `http://IP:2379`. */
  endpoint: string;
  /** `IP:2379`, as `--cluster-store etcd://` takes it. */
  address: string;
  dataDir: string;
  log: string;
  /** The host it runs in. */
  host: LabHost;
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** etcdctl with ETCDCTL_API=`api` against `e`, in e's host namespace. */
export function etcdctl(
  lab: Lab,
  e: RefEtcd,
  api: 2 | 3,
  args: string[],
): { status: number | null; stdout: string; stderr: string } {
  const argv = ['env', `ETCDCTL_API=${api}`, 'etcdctl', '--endpoints', e.endpoint, ...args];
  return lab.exec(e.host, argv, {
    timeoutMs: 20_000,
  });
}

/** Starts etcd in `host` and resolves once `etcdctl endpoint health` says healthy. */
export async function startRefEtcd(
  lab: Lab,
  host: LabHost,
  spawned?: (e: RefEtcd) => void,
): Promise<RefEtcd> {
  const ip = host.ip;
  const dataDir = join(host.dir, 'etcd');
  const log = join(host.dir, 'etcd.log');
  const name = `${host.name}-etcd`;
  const argv = [
    'etcd',
    ...['--name', name, '--data-dir', dataDir, '--enable-v2=true'],
    ...[
      '--listen-client-urls',
      `http://${ip}:2379`,
      '--advertise-client-urls',
      `http://${ip}:2379`,
    ],
    ...['--listen-peer-urls', `http://${ip}:2380`],
    ...['--initial-advertise-peer-urls', `http://${ip}:2380`],
    ...['--initial-cluster', `${name}=http://${ip}:2380`, '--initial-cluster-state', 'new'],
  ];
  const fd = openSync(log, 'a');
  // nsenter without --fork execs: the PID is etcd's.
  const child = lab.spawn(host, argv, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const pid = child.pid;
  const start = pid === undefined ? undefined : procStartTime(pid);
  child.unref();
  if (pid === undefined || start === undefined) {
    throw new Error(`etcd did not start in ${host.name}:\n${tail(log)}`);
  }
  const e: RefEtcd = {
    pid,
    start,
    endpoint: `http://${ip}:2379`,
    address: `${ip}:2379`,
    dataDir,
    log,
    host,
  };
  spawned?.(e);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (etcdctl(lab, e, 3, ['endpoint', 'health']).status === 0) return e;
    if (!isAlive(pid, start) || Date.now() >= deadline) {
      await stopProcess(pid, start, 'SIGKILL');
      throw new Error(`etcd in ${host.name} is not healthy; its log ends:\n${tail(log)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Ends etcd by PID (SIGTERM, SIGKILL after 5 s) and removes its data dir; returns problems. */
export async function stopRefEtcd(e: RefEtcd): Promise<string[]> {
  const problems: string[] = [];
  if (!(await stopProcess(e.pid, e.start, 'SIGTERM', 5000))) {
    problems.push(`etcd ${e.pid} survived SIGKILL`);
  }
  if (existsSync(e.dataDir)) {
    const r = run(['rm', '-rf', '--one-file-system', e.dataDir]);
    if (r.status !== 0) problems.push(`rm ${e.dataDir}: ${r.stderr.trim()}`);
  }
  return problems;
}
