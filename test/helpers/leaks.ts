/**
 * What a lab daemon's host holds, compared with what its store says: the
 * crash tests SIGKILL berthd mid-operation and run these after each restart.
 * Each check returns the problems it finds, one sentence each, so a campaign
 * can count them: veths, bridges and nft elements nobody owns, port map
 * elements and held ports, IPAM addresses and subnets, endpoint records,
 * mounts, namespace files, runtime containers, processes, build leftovers,
 * and container names.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { LabEnv } from './lab-daemon.js';
import { containerStore, storeRows } from './store-view.js';

interface Ep {
  Id: string;
  ContainerID: string;
  NetworkID: string;
  Name?: string;
  IPv4?: string;
  IPv6?: string;
  HostIf?: string;
  State: string;
  Ports?: Array<{ proto: string; hostIp: string; hostPort: number; containerPort: number }>;
}

interface Net {
  Id: string;
  Name: string;
  Driver: string;
  Options: Record<string, string>;
}

interface Link {
  ifname: string;
  master?: string;
  linkinfo?: { info_kind?: string };
}

/** The store's view: containers, networks, endpoints, IPAM. */
export function storeState(dataRoot: string) {
  const containers = containerStore(dataRoot);
  const rows = (p: string) => storeRows(dataRoot, p);
  const networks = rows('networks/by-id/').map((r) => JSON.parse(r.value) as Net);
  const eps = rows('endpoints/').map((r) => JSON.parse(r.value) as Ep);
  const addrs = rows('ipam/local/addrs/').map((r) => {
    const rest = r.key.slice('ipam/local/addrs/'.length);
    return {
      subnet: rest.slice(0, rest.lastIndexOf('/')),
      ip: rest.slice(rest.lastIndexOf('/') + 1),
      owner: (JSON.parse(r.value) as { owner: string }).owner,
    };
  });
  const pools = rows('ipam/local/pools/').map((r) => ({
    subnet: r.key.slice('ipam/local/pools/'.length),
    network: (JSON.parse(r.value) as { network: string }).network,
  }));
  return { containers, networks, eps, addrs, pools };
}

const bridgeOf = (n: Net) =>
  n.Options['com.docker.network.bridge.name'] || `br-${n.Id.slice(0, 12)}`;

/**
 * A listing from the lab host. One that fails throws: it must not read as
 * "nothing there" (settle tries again).
 */
function hostOut(env: LabEnv, argv: string[]): string {
  const r = env.inHost(argv);
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Output of a command run here; throws when it fails. */
function localOut(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) {
    throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}${r.error ?? ''}`);
  }
  return r.stdout;
}

/** A process's command line, for a message ('gone' when it has ended). */
function commandLine(pid: string): string {
  try {
    return (
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim() || 'no command line'
    );
  } catch {
    return 'gone';
  }
}

/** The host's links (ip -j -d link). */
function links(env: LabEnv): Link[] {
  return JSON.parse(hostOut(env, ['ip', '-j', '-d', 'link', 'show'])) as Link[];
}

/** Names in one of Berth's nft sets. */
function nftSetNames(env: LabEnv, set: string): Set<string> {
  const text = hostOut(env, ['nft', 'list', 'set', 'inet', 'berth', set]);
  return new Set([...text.matchAll(/"([^"]+)"/g)].map((m) => m[1]!));
}

/** Published-port map elements as "hostIp proto hostPort ip port" (hostIp '' for all). */
function nftPorts(env: LabEnv): string[] {
  const out: string[] = [];
  for (const map of ['ports4', 'ports6']) {
    const text = hostOut(env, ['nft', 'list', 'map', 'inet', 'berth', map]);
    for (const m of text.matchAll(/(tcp|udp|sctp) \. (\d+) : ([\da-f.:]+) \. (\d+)/g)) {
      out.push(`- ${m.slice(1).join(' ')}`);
    }
  }
  for (const map of ['ports-addr4', 'ports-addr6']) {
    const text = hostOut(env, ['nft', 'list', 'map', 'inet', 'berth', map]);
    for (const m of text.matchAll(
      /([\da-f.:]+) \. (tcp|udp|sctp) \. (\d+) : ([\da-f.:]+) \. (\d+)/g,
    )) {
      out.push(m.slice(1).join(' '));
    }
  }
  return out.sort();
}

/** Ports something listens on in the lab host, by protocol (berthd holds published ones). */
function listening(env: LabEnv, proto: 'tcp' | 'udp'): Set<number> {
  const out = new Set<number>();
  const flag = proto === 'tcp' ? '-Hltn' : '-Hlun';
  for (const m of hostOut(env, ['ss', flag]).matchAll(/\S+:(\d+)\s/g)) {
    out.add(Number(m[1]));
  }
  return out;
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((p) => p.startsWith(dir + '/'));
}

function dirEntries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Global (overlay) networks by ID, as the cluster store has them (with --cluster-store). */
export type GlobalNetworks = Map<string, { Id: string; Name: string }>;

/** Where an overlay network's namespace lives on a host (the overlay driver's). */
export const overlayNs = (execRoot: string, netId: string): string =>
  `${execRoot}/overlay/ov-${netId.slice(0, 12)}`;

/**
 * Everything that must agree between the store and the lab host while the
 * daemon is idle (no operation under way). Empty when all is well. On a
 * cluster host, `global` names the overlay networks: their endpoints' veths
 * live in the network's namespace, not the host's.
 */
export function inconsistencies(
  env: LabEnv,
  global: GlobalNetworks = new Map(),
  /** Other processes the lab runs in the host (a cluster lab's etcd member). */
  others: ReadonlySet<string> = new Set(),
): string[] {
  const d = env.daemon;
  const { containers, networks, eps, addrs, pools } = storeState(d.dataRoot);
  const problems: string[] = [...containers.problems];
  const running = containers.records.filter((c) => c.State.Status === 'running');
  const runningIds = new Set(running.map((c) => c.Id));
  const bridges = new Map(
    networks.filter((n) => n.Driver === 'bridge').map((n) => [bridgeOf(n), n]),
  );
  const netIds = new Set([...networks.map((n) => n.Id), ...global.keys()]);
  const all = links(env);
  const overlayVeths = (netId: string): Set<string> => {
    const out = localOut(['nsenter', `--net=${overlayNs(d.execRoot, netId)}`, 'ip', '-j', 'link']);
    return new Set((JSON.parse(out) as Link[]).map((l) => l.ifname));
  };

  // Endpoints: ready, of running containers, with their veth on their bridge.
  // (Berth names host ends veth + 7 hex; the lab host's uplink is a veth too.)
  const veths = new Map(
    all
      .filter((l) => l.linkinfo?.info_kind === 'veth' && /^veth[0-9a-f]{7}$/.test(l.ifname))
      .map((l) => [l.ifname, l]),
  );
  for (const ep of eps) {
    const what = `endpoint ${ep.Id.slice(0, 12)}`;
    if (ep.State !== 'ready') problems.push(`${what} left ${ep.State}`);
    if (!runningIds.has(ep.ContainerID)) problems.push(`${what} of a container that does not run`);
    if (!netIds.has(ep.NetworkID)) problems.push(`${what} on a network that is gone`);
    const inNs = global.has(ep.NetworkID) ? overlayVeths(ep.NetworkID) : veths;
    if (ep.HostIf && !inNs.has(ep.HostIf))
      problems.push(`${what}: its veth ${ep.HostIf} is missing`);
  }
  const named = new Set(eps.map((e) => e.HostIf));
  for (const [v, l] of veths) {
    if (!named.has(v)) problems.push(`stray veth ${v}${l.master ? ` on ${l.master}` : ''}`);
  }

  // Bridges: one per bridge network, no other br-*; the nft sets name only those.
  const bridgeLinks = new Set(
    all.filter((l) => l.linkinfo?.info_kind === 'bridge').map((l) => l.ifname),
  );
  for (const b of bridges.keys()) if (!bridgeLinks.has(b)) problems.push(`bridge ${b} is missing`);
  for (const b of bridgeLinks) {
    if ((b.startsWith('br-') || b === 'berth0') && !bridges.has(b)) {
      problems.push(`stray bridge ${b}`);
    }
  }
  for (const set of ['bridges', 'same-bridge', 'icc', 'internal', 'masq4', 'masq6']) {
    for (const b of nftSetNames(env, set)) {
      if (!bridges.has(b)) problems.push(`nft set ${set} names ${b}, no network's bridge`);
    }
  }
  const inBridges = nftSetNames(env, 'bridges');
  for (const b of bridges.keys()) {
    if (!inBridges.has(b)) problems.push(`bridge ${b} is not in the nft bridges set`);
  }

  // Published ports: the maps hold exactly the endpoints' ports, and each is held.
  const published = eps.flatMap((e) =>
    (e.Ports ?? []).map((p) =>
      p.hostIp === '' || p.hostIp === '0.0.0.0'
        ? `- ${p.proto} ${p.hostPort} ${e.IPv4} ${p.containerPort}`
        : `${p.hostIp} ${p.proto} ${p.hostPort} ${e.IPv4} ${p.containerPort}`,
    ),
  );
  const inMaps = nftPorts(env);
  for (const p of inMaps) if (!published.includes(p)) problems.push(`stray port map element ${p}`);
  for (const p of published) if (!inMaps.includes(p)) problems.push(`port ${p} not in the maps`);
  const held = { tcp: listening(env, 'tcp'), udp: listening(env, 'udp') };
  for (const e of eps) {
    for (const p of e.Ports ?? []) {
      const h = held[p.proto as 'tcp' | 'udp'];
      if (h && !h.has(p.hostPort)) problems.push(`published ${p.proto} ${p.hostPort} not held`);
    }
  }

  // IPAM: each address names an endpoint that has it (or a subnet's gateway),
  // each subnet a network that exists, each endpoint's address its key.
  const byId = new Map(eps.map((e) => [e.Id, e]));
  const subnets = new Set(pools.map((p) => p.subnet));
  for (const a of addrs) {
    if (a.owner === 'gateway' || a.owner.startsWith('aux:')) {
      if (!subnets.has(a.subnet)) problems.push(`${a.owner} ${a.ip} of a subnet that is gone`);
      continue;
    }
    const ep = byId.get(a.owner);
    if (!ep) problems.push(`address ${a.ip} held by a missing endpoint`);
    else if (ep.IPv4 !== a.ip && ep.IPv6 !== a.ip)
      problems.push(`address ${a.ip}: endpoint disagrees`);
  }
  const taken = new Set(addrs.map((a) => a.ip));
  for (const ep of eps) {
    if (global.has(ep.NetworkID)) continue; // its address is the cluster store's
    if (ep.IPv4 && !taken.has(ep.IPv4)) problems.push(`endpoint's ${ep.IPv4} has no address key`);
  }
  for (const p of pools) {
    if (!netIds.has(p.network)) problems.push(`subnet ${p.subnet} of a network that is gone`);
  }

  // Mounts and namespaces: only running containers' root filesystems and
  // namespace files; nothing of a build once the daemon has started.
  const keep = new Set<string>();
  for (const c of running) {
    keep.add(`${d.dataRoot}/overlay/${c.Id}/merged`);
    keep.add(`${d.execRoot}/netns/${c.Id.slice(0, 16)}`);
  }
  // An overlay network's namespace, on a host that took part in it (cluster-leaks.ts checks the rest).
  for (const id of global.keys()) keep.add(overlayNs(d.execRoot, id));
  for (const m of mountsUnder(d.host.dir)) if (!keep.has(m)) problems.push(`stray mount ${m}`);
  const short = new Set(running.map((c) => c.Id.slice(0, 16)));
  for (const f of dirEntries(`${d.execRoot}/netns`)) {
    if (!short.has(f)) problems.push(`stray namespace file netns/${f}`);
  }
  const builds = dirEntries(`${d.dataRoot}/build`);
  if (builds.length) problems.push(`build directories left: ${builds.join(' ')}`);

  // The runtime runs exactly the running containers; the host namespace has
  // the daemon and their shims only.
  const runc = localOut(['runc', '--root', `${d.execRoot}/runc`, 'list', '-q']);
  const inRunc = new Set(runc.split('\n').filter(Boolean));
  for (const id of inRunc)
    if (!runningIds.has(id)) problems.push(`runtime container ${id.slice(0, 12)} left`);
  for (const id of runningIds)
    if (!inRunc.has(id)) problems.push(`running ${id.slice(0, 12)} not in the runtime`);
  const shims = new Set(
    running.map((c) => String((c.State as { ShimPid?: number }).ShimPid ?? '')),
  );
  const pids = localOut(['ip', 'netns', 'pids', d.host.name]).split('\n').filter(Boolean);
  for (const p of pids) {
    if (p !== String(d.pid) && !shims.has(p) && !others.has(p))
      problems.push(`stray process ${p} (${commandLine(p)}) in the host namespace`);
  }
  return problems;
}

/**
 * After every container is removed and every network pruned: what is still
 * there besides the predefined networks (empty when nothing leaked).
 */
export function leftovers(
  env: LabEnv,
  global: GlobalNetworks = new Map(),
  others: ReadonlySet<string> = new Set(),
): string[] {
  const { containers, networks, eps } = storeState(env.daemon.dataRoot);
  const problems = inconsistencies(env, global, others);
  for (const c of containers.records) problems.push(`container ${c.Name} left`);
  for (const e of eps) problems.push(`endpoint ${e.Id.slice(0, 12)} left`);
  for (const n of networks) {
    if (!['bridge', 'host', 'none'].includes(n.Name)) problems.push(`network ${n.Name} left`);
  }
  return problems;
}

/**
 * Runs `check` until it finds nothing or `ms` have passed (the kernel deletes
 * links in the background), and returns what it found last. An attempt that
 * could not run (a tool failed or hung: the machine is shared) says so, and
 * is tried again even past the deadline, twice at most.
 */
export async function settle(check: () => string[], ms = 5000): Promise<string[]> {
  const end = Date.now() + ms;
  let retries = 2;
  for (;;) {
    let found: string[];
    let failed = false;
    try {
      found = check();
    } catch (e) {
      found = [`the check could not run: ${(e as Error).message}`];
      failed = true;
    }
    if (found.length === 0) return found;
    if (Date.now() > end && !(failed && retries-- > 0)) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
}
