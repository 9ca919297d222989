/**
 * The lab's network: one world namespace with a bridge, and per host a veth
 * whose world end is a port of that bridge. No lab interface ever exists in
 * the machine's own namespace: each veth is made by one request inside the
 * world namespace, its peer born directly in the host namespace.
 *
 *   world (<lab>-w): lo 203.0.113.1/32, br0 198.51.100.1/24
 *        └─ br0 port <lab>-hN ══ veth ══ eth0 198.51.100.(10+N)/24 in host <lab>-hN
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { procStartTime, run } from './proc.js';
import { type LabHost, type LabState, type LabWorld, LAB_ROOT } from './state.js';

const WORLD_IP = '198.51.100.1';
/** The cluster lab's underlay, the seed's 192.168.205.0/24: world .1, hosts .10, .11, ... */
export const UNDERLAY_PREFIX = '192.168.205.';
const UNDERLAY_WORLD_IP = `${UNDERLAY_PREFIX}1`;
const INTERNET_IP = '203.0.113.1';
const PREFIX_LEN = 24;

function hostIp(index: number, cluster: boolean): string {
  return cluster ? `${UNDERLAY_PREFIX}${9 + index}` : `198.51.100.${10 + index}`;
}

function netnsPath(ns: string): string {
  return `/run/netns/${ns}`;
}

/** The state of a lab about to be built (nothing exists yet). */
export function newState(
  name: string,
  hostCount: number,
  detached: boolean,
  cluster = false,
): LabState {
  const dir = join(LAB_ROOT, name);
  const world: LabWorld = {
    name: `${name}-w`,
    netns: netnsPath(`${name}-w`),
    ip: cluster ? UNDERLAY_WORLD_IP : WORLD_IP,
    internetIp: INTERNET_IP,
  };
  const hosts: LabHost[] = [];
  for (let i = 1; i <= hostCount; i++) {
    const ns = `${name}-h${i}`;
    hosts.push({
      name: ns,
      index: i,
      netns: netnsPath(ns),
      ip: hostIp(i, cluster),
      dir: join(dir, `h${i}`),
      uplink: ns,
    });
  }
  const start = procStartTime(process.pid);
  return {
    version: 1,
    name,
    dir,
    created: new Date().toISOString(),
    owner: detached || start === undefined ? null : { pid: process.pid, start },
    namespaces: [world.name, ...(cluster ? [`${name}-u`] : []), ...hosts.map((h) => h.name)],
    world,
    hosts,
    daemons: [],
    execRoots: [],
    ...(cluster && {
      cluster: { switch: `${name}-u`, subnet: `${UNDERLAY_PREFIX}0/24`, etcd: [] },
    }),
  };
}

/** Claims `LAB_ROOT/<name>` atomically; false when it exists. */
export function claimDir(name: string): boolean {
  mkdirSync(LAB_ROOT, { recursive: true, mode: 0o755 });
  try {
    mkdirSync(join(LAB_ROOT, name), { mode: 0o755 });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

function ipBatch(ns: string, lines: string[]): void {
  const r = run(['ip', '-n', ns, '-b', '-'], { input: lines.join('\n') + '\n' });
  if (r.status !== 0) throw new Error(`ip -n ${ns} -b failed: ${r.stderr.trim()}`);
}

/** Creates the namespaces, the bridge and the veths; throws on the first failure. */
export function buildTopology(s: LabState): void {
  for (const ns of s.namespaces) {
    const r = run(['ip', 'netns', 'add', ns]);
    if (r.status !== 0) throw new Error(`ip netns add ${ns}: ${r.stderr.trim()}`);
  }
  if (s.cluster) {
    buildUnderlay(s, s.cluster.switch);
    return;
  }
  const world = [
    'link set lo up',
    `addr add ${INTERNET_IP}/32 dev lo`,
    'link add br0 type bridge',
    `addr add ${WORLD_IP}/${PREFIX_LEN} dev br0`,
    'link set br0 up',
  ];
  for (const h of s.hosts) {
    // One request creates both ends: the peer is born in the host namespace.
    world.push(`link add ${h.uplink} type veth peer name eth0 netns ${h.name}`);
    world.push(`link set ${h.uplink} master br0`, `link set ${h.uplink} up`);
  }
  ipBatch(s.world.name, world);
  for (const h of s.hosts) {
    mkdirSync(h.dir, { recursive: true });
    ipBatch(h.name, [
      'link set lo up',
      `addr add ${h.ip}/${PREFIX_LEN} dev eth0`,
      'link set eth0 up',
      `route add default via ${WORLD_IP}`,
    ]);
  }
}

/**
 * A cluster lab's network: an underlay switch namespace (`<lab>-u`, bridge
 * br0, no address) joining every host's only uplink and the world, which
 * routes for them (192.168.205.1, the hosts' default gateway).
 *
 *   switch (<lab>-u): br0 ── port <lab>-w ── port <lab>-h1 ── port <lab>-h2 ...
 *   world  (<lab>-w): eth0 192.168.205.1/24, lo 203.0.113.1/32
 *   host   (<lab>-hN): eth0 192.168.205.(9+N)/24, default via 192.168.205.1
 */
function buildUnderlay(s: LabState, sw: string): void {
  const lines = ['link set lo up', 'link add br0 type bridge', 'link set br0 up'];
  for (const ns of [s.world.name, ...s.hosts.map((h) => h.name)]) {
    // The switch port is named after the namespace at its other end.
    lines.push(`link add ${ns} type veth peer name eth0 netns ${ns}`);
    lines.push(`link set ${ns} master br0`, `link set ${ns} up`);
  }
  ipBatch(sw, lines);
  ipBatch(s.world.name, [
    'link set lo up',
    `addr add ${INTERNET_IP}/32 dev lo`,
    `addr add ${s.world.ip}/${PREFIX_LEN} dev eth0`,
    'link set eth0 up',
  ]);
  for (const h of s.hosts) {
    mkdirSync(h.dir, { recursive: true });
    ipBatch(h.name, [
      'link set lo up',
      `addr add ${h.ip}/${PREFIX_LEN} dev eth0`,
      'link set eth0 up',
      `route add default via ${s.world.ip}`,
    ]);
  }
}
