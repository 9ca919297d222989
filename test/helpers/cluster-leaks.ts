/**
 * What a cluster holds, compared across its hosts and etcd: each host's own
 * state (leaks.ts, with the overlay networks known), every endpoint in etcd
 * matched by a ready local endpoint on its node and the other way round, the
 * global IPAM's keys matching the endpoints and networks, each network's
 * name and VXLAN ID keys, the endpoints' name claims, and each host's overlay namespaces programmed
 * with exactly the other hosts' endpoints (static FDB and permanent
 * neighbour entries). Each problem is one sentence, so a campaign can count.
 */
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { Lab, LabDaemon } from '../../src/lab/lab.js';
import type { LabEnv } from './lab-daemon.js';
import { inconsistencies, leftovers, overlayNs, storeState, type GlobalNetworks } from './leaks.js';

interface GlobalEp {
  Id: string;
  NetworkID: string;
  ContainerID: string;
  Name: string;
  NameHeld?: boolean;
  IPv4: string;
  Mac: string;
  Node: string;
  Vtep: string;
}

/** The cluster store under /berth/, by key without the prefix. */
export function etcdDump(lab: Lab): Map<string, string> {
  const r = lab.etcdctl(1, ['get', '--prefix', '/berth/']);
  if (r.status !== 0) throw new Error(`etcdctl get failed: ${r.stderr}`);
  const lines = r.stdout.split('\n');
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i += 2) {
    if (lines[i]) out.set(lines[i]!.slice('/berth/'.length), lines[i + 1]!);
  }
  return out;
}

const under = (kv: Map<string, string>, prefix: string) =>
  [...kv]
    .filter(([k]) => k.startsWith(prefix))
    .map(([k, v]) => [k.slice(prefix.length), v] as const);

/** The global networks etcd has, by ID. */
export function globalNetworks(kv: Map<string, string>): GlobalNetworks {
  return new Map(
    under(kv, 'networks/by-id/').map(([id, v]) => {
      const n = JSON.parse(v) as { Id: string; Name: string };
      return [id, n];
    }),
  );
}

/** A command's output here; throws when it fails (the check is tried again). */
function out(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** The lab's etcd members' PIDs: processes of the lab's own in its hosts. */
const etcdPids = (lab: Lab): Set<string> => new Set(lab.etcdMembers.map((e) => String(e.pid)));

/** One host of the cluster, as leaks.ts reads it. */
export function hostEnv(lab: Lab, d: LabDaemon, host: number): LabEnv {
  return {
    lab,
    daemons: [d],
    daemon: d,
    inHost: (argv) => {
      const r = lab.exec(host, argv);
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  } as LabEnv;
}

/** Everything that must agree across the cluster while it is idle. Empty when all is well. */
export function clusterInconsistencies(lab: Lab, daemons: LabDaemon[]): string[] {
  const kv = etcdDump(lab);
  const nets = globalNetworks(kv);
  const problems: string[] = [];
  const nodes = new Set(under(kv, 'nodes/').map(([addr]) => addr));
  const eps = under(kv, 'endpoints/').map(([, v]) => JSON.parse(v) as GlobalEp);
  const epById = new Map(eps.map((e) => [e.Id, e]));

  daemons.forEach((d, i) => {
    const host = `host ${i + 1}`;
    for (const p of inconsistencies(hostEnv(lab, d, i + 1), nets, etcdPids(lab))) {
      problems.push(`${host}: ${p}`);
    }
    const node = `${lab.hosts[i]!.ip}:2375`;
    const local = storeState(d.dataRoot).eps.filter((e) => nets.has(e.NetworkID));
    const localIds = new Set(local.map((e) => e.Id));
    for (const e of local) {
      const g = epById.get(e.Id);
      if (!g) problems.push(`${host}: endpoint ${e.Id.slice(0, 12)} not in etcd`);
      else if (e.Name !== undefined && g.Name !== e.Name)
        problems.push(
          `${host}: endpoint ${e.Id.slice(0, 12)} is ${e.Name} here, ${g.Name} in etcd`,
        );
    }
    for (const e of eps.filter((x) => x.Node === node)) {
      if (!localIds.has(e.Id))
        problems.push(`etcd endpoint ${e.Id.slice(0, 12)} of ${host} has no local endpoint`);
    }
    // A VXLAN device lives in its network's namespace; one left in the host's is a leak.
    const hostLinks = lab.exec(i + 1, ['ip', '-j', '-d', 'link', 'show', 'type', 'vxlan']);
    for (const l of JSON.parse(hostLinks.stdout || '[]') as Array<{ ifname: string }>) {
      problems.push(`${host}: stray VXLAN device ${l.ifname} in the host's namespace`);
    }
    // Its overlay namespaces: of networks that exist, programmed with the others' endpoints.
    const dir = `${d.execRoot}/overlay`;
    for (const f of existsSync(dir) ? readdirSync(dir) : []) {
      const net = [...nets.keys()].find((id) => f === `ov-${id.slice(0, 12)}`);
      if (!net) {
        problems.push(`${host}: stray overlay namespace ${f}`);
        continue;
      }
      const ns = `--net=${overlayNs(d.execRoot, net)}`;
      const remote = eps.filter((e) => e.NetworkID === net && e.Node !== node);
      const want = new Set(remote.map((e) => `${e.Mac} ${e.Vtep}`));
      const fdb = out(['nsenter', ns, 'bridge', 'fdb', 'show', 'dev', 'vxlan0'])
        .split('\n')
        .flatMap((l) => {
          const m = /^([0-9a-f:]{17}) dst (\S+)/.exec(l);
          return m && m[1] !== '00:00:00:00:00:00' ? [`${m[1]} ${m[2]}`] : [];
        });
      for (const f2 of fdb) if (!want.has(f2)) problems.push(`${host}: stale FDB entry ${f2}`);
      for (const w of want) if (!fdb.includes(w)) problems.push(`${host}: FDB lacks ${w}`);
      const neigh = out(['nsenter', ns, 'ip', 'neigh', 'show', 'dev', 'vxlan0', 'nud', 'permanent'])
        .split('\n')
        .flatMap((l) => {
          const m = /^(\S+) lladdr (\S+)/.exec(l);
          return m ? [`${m[1]} ${m[2]}`] : [];
        });
      const wantN = new Set(remote.map((e) => `${e.IPv4} ${e.Mac}`));
      for (const n of neigh) if (!wantN.has(n)) problems.push(`${host}: stale neighbour ${n}`);
      for (const w of wantN) if (!neigh.includes(w)) problems.push(`${host}: neighbours lack ${w}`);
    }
  });

  for (const e of eps) {
    const what = `etcd endpoint ${e.Id.slice(0, 12)}`;
    if (!nets.has(e.NetworkID)) problems.push(`${what} on a network that is gone`);
    if (!nodes.has(e.Node)) problems.push(`${what} of node ${e.Node}, which is not registered`);
  }
  // The global IPAM: addresses owned by endpoints (or gateways), subnets by networks.
  const subnets = new Map(
    under(kv, 'ipam/global/pools/').map(([subnet, v]) => [
      subnet,
      (JSON.parse(v) as { network: string }).network,
    ]),
  );
  const taken = new Set<string>();
  for (const [k, v] of under(kv, 'ipam/global/addrs/')) {
    const subnet = k.slice(0, k.lastIndexOf('/'));
    const ip = k.slice(k.lastIndexOf('/') + 1);
    const owner = (JSON.parse(v) as { owner: string }).owner;
    taken.add(ip);
    if (!subnets.has(subnet)) problems.push(`global address ${ip} of a subnet that is gone`);
    if (owner === 'gateway' || owner.startsWith('aux:')) continue;
    // A dead host's address kept for it (decision 0024): only while that host is away.
    const tomb = /^reaped:([^@]+)@(.+)$/.exec(owner);
    if (tomb) {
      if (nodes.has(tomb[2]!))
        problems.push(`global address ${ip} kept for ${tomb[2]}, which is back`);
      continue;
    }
    const ep = epById.get(owner);
    if (!ep) problems.push(`global address ${ip} held by a missing endpoint`);
    else if (ep.IPv4 !== ip) problems.push(`global address ${ip}: its endpoint has ${ep.IPv4}`);
  }
  for (const e of eps) {
    if (!taken.has(e.IPv4)) problems.push(`etcd endpoint's ${e.IPv4} has no address key`);
  }
  // Endpoint names: each claim held by an endpoint of that name that says it holds it.
  const claims = new Map(under(kv, 'networks/endpoint-names/'));
  for (const [k, id] of claims) {
    const [net = '', name = ''] = k.split('/');
    const ep = epById.get(id);
    if (!ep || ep.NetworkID !== net || ep.Name !== decodeURIComponent(name) || !ep.NameHeld)
      problems.push(
        `endpoint name ${decodeURIComponent(name)} held by ${id.slice(0, 12)}, which does not have it`,
      );
  }
  for (const e of eps) {
    const claim = `${e.NetworkID}/${encodeURIComponent(e.Name)}`;
    if (e.NameHeld && claims.get(claim) !== e.Id)
      problems.push(`etcd endpoint ${e.Id.slice(0, 12)} holds no claim on its name ${e.Name}`);
  }
  for (const [subnet, net] of subnets) {
    if (!nets.has(net)) problems.push(`global subnet ${subnet} of a network that is gone`);
  }
  const named = new Set(under(kv, 'networks/names/').map(([, id]) => id));
  const vnis = new Set(under(kv, 'networks/vni/').map(([, id]) => id));
  for (const id of nets.keys()) {
    if (!named.has(id)) problems.push(`network ${id.slice(0, 12)} has no name key`);
    if (!vnis.has(id)) problems.push(`network ${id.slice(0, 12)} has no VXLAN ID key`);
  }
  for (const id of [...named, ...vnis]) {
    if (!nets.has(id))
      problems.push(`a name or VXLAN ID key names network ${id.slice(0, 12)}, gone`);
  }
  return problems;
}

/** After every container and network is removed on every host: what is left anywhere. */
export function clusterLeftovers(lab: Lab, daemons: LabDaemon[]): string[] {
  const problems = clusterInconsistencies(lab, daemons);
  const kv = etcdDump(lab);
  for (const k of kv.keys()) {
    if (
      /^(networks\/(by-id|names|vni|endpoint-names)|endpoints|ipam\/global\/(pools|addrs))\//.test(
        k,
      )
    ) {
      problems.push(`etcd key ${k} left`);
    }
  }
  daemons.forEach((d, i) => {
    for (const p of leftovers(hostEnv(lab, d, i + 1), new Map(), etcdPids(lab))) {
      problems.push(`host ${i + 1}: ${p}`);
    }
  });
  return [...new Set(problems)];
}
