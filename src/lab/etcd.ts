/**
 * The cluster lab's etcd: one member per host (h1..hK), one cluster, started
 * detached with `nsenter --net` (which execs, so the PID recorded is etcd's)
 * and recorded in lab.json before readiness is awaited, so a crash at any
 * point leaves them findable for teardown.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { procStartTime, run, stopProcess, which } from './proc.js';
import type { EtcdRecord, LabHost, LabState } from './state.js';

/** etcd's client and peer ports. */
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The client URLs of the members (what `--cluster-store` names, without the scheme). */
export function etcdEndpoints(s: LabState): string[] {
  return (s.cluster?.etcd ?? []).map((e) => e.clientUrl);
}

/**
 * Starts a member in each of `members` (all hosts of the lab by default) and
 * waits until `etcdctl endpoint health` says every one is healthy.
 */
export async function startEtcd(
  s: LabState,
  members: LabHost[],
  save: () => void,
  timeoutMs = 30_000,
): Promise<void> {
  const initial = members.map((h) => `${h.name}=http://${h.ip}:${ETCD_PEER_PORT}`).join(',');
  for (const h of members) {
    s.cluster!.etcd.push(spawnMember(s, h, initial));
    save();
  }
  await untilHealthy(s, members, timeoutMs);
}

/**
 * Starts stopped members again in their hosts, from their data directories
 * (etcd then ignores the initial-cluster flags), and waits until every
 * member of the lab answers healthy.
 */
export async function restartMembers(
  s: LabState,
  stopped: LabHost[],
  hosts: LabHost[],
  save: () => void,
  timeoutMs = 30_000,
): Promise<void> {
  const members = hosts.filter((x) => s.cluster!.etcd.some((e) => e.host === x.name));
  const initial = members.map((m) => `${m.name}=http://${m.ip}:${ETCD_PEER_PORT}`).join(',');
  for (const h of stopped) {
    const i = s.cluster!.etcd.findIndex((e) => e.host === h.name);
    if (i < 0) throw new Error(`no etcd member in ${h.name}`);
    s.cluster!.etcd[i] = spawnMember(s, h, initial);
    save();
  }
  await untilHealthy(s, members, timeoutMs);
}

/** Spawns one member in its host's namespace; returns its record. */
function spawnMember(s: LabState, h: LabHost, initial: string): EtcdRecord {
  const etcd = which('etcd');
  if (!etcd) throw new Error('etcd is not installed (apt-get install etcd-server etcd-client)');
  const dataDir = join(h.dir, 'etcd');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const log = join(h.dir, 'etcd.log');
  const clientUrl = `http://${h.ip}:${ETCD_CLIENT_PORT}`;
  const argv = [
    etcd,
    ...['--name', h.name, '--data-dir', dataDir],
    ...['--listen-client-urls', `${clientUrl},http://127.0.0.1:${ETCD_CLIENT_PORT}`],
    ...['--advertise-client-urls', clientUrl],
    ...['--listen-peer-urls', `http://${h.ip}:${ETCD_PEER_PORT}`],
    ...['--initial-advertise-peer-urls', `http://${h.ip}:${ETCD_PEER_PORT}`],
    ...['--initial-cluster', initial, '--initial-cluster-token', s.name],
    ...['--initial-cluster-state', 'new'],
    // Docker 20.10's libkv speaks only the v2 API: the reference dockerd
    // (bench) needs it on the same cluster. Berth uses v3.
    '--enable-v2=true',
  ];
  const fd = openSync(log, 'a');
  const child = spawn(which('nsenter') ?? 'nsenter', [`--net=${h.netns}`, '--', ...argv], {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const pid = child.pid;
  const start = pid === undefined ? undefined : procStartTime(pid);
  child.unref();
  if (pid === undefined || start === undefined) {
    throw new Error(`etcd in ${h.name} did not start:\n${tail(log)}`);
  }
  return { pid, start, host: h.name, name: h.name, clientUrl, dataDir, log };
}

/** Waits until `etcdctl endpoint health` says every member is healthy. */
async function untilHealthy(s: LabState, members: LabHost[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = etcdctl(members[0]!, etcdEndpoints(s), ['endpoint', 'health']);
    if (r.status === 0) return;
    last = r.stdout + r.stderr;
    if (Date.now() >= deadline) {
      const logs = members.map((h) => `${h.name}:\n${tail(join(h.dir, 'etcd.log'), 8)}`);
      throw new Error(`etcd cluster not healthy in time:\n${last}\n${logs.join('\n')}`);
    }
    await new Promise((r2) => setTimeout(r2, 200));
  }
}

/** Runs `etcdctl` (v3 API) in a host's namespace against the given endpoints. */
export function etcdctl(host: LabHost, endpoints: string[], args: string[]) {
  return run(
    [
      'nsenter',
      `--net=${host.netns}`,
      '--',
      'etcdctl',
      '--dial-timeout=2s',
      '--command-timeout=3s',
      `--endpoints=${endpoints.join(',')}`,
      ...args,
    ],
    { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 10_000 },
  );
}

/** Stops every recorded member by PID (SIGTERM, SIGKILL after 5 s); returns the survivors. */
export async function stopEtcd(records: EtcdRecord[]): Promise<EtcdRecord[]> {
  const left: EtcdRecord[] = [];
  await Promise.all(
    records.map(async (e) => {
      if (!(await stopProcess(e.pid, e.start, 'SIGTERM', 5000))) left.push(e);
    }),
  );
  return left;
}
