// The overlay driver's data plane on two hosts of a cluster lab (issue 13
// item 6): per network a namespace with br0 and vxlan0 (VNI, UDP 4789,
// learning off, proxy on, MTU uplink − 50); endpoints on two hosts ping each
// other once each host has the other's static FDB and neighbour entries, and
// stop when they go; no flood entry, nothing learned; rm leaves nothing.
// The control plane (etcd) is not involved: the test plays it. Needs root.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  openSync,
  closeSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Lab } from '../../src/lab/lab.js';
import { which } from '../../src/lab/proc.js';
import { createNetns, deleteNetns } from '../../src/kernel/netns/netns.js';
import { Rtnl } from '../../src/kernel/netlink/index.js';
import { OverlayDriver, type OverlayPeer } from '../../src/network/drivers/overlay/index.js';
import { LinkReaper } from '../../src/network/reaper.js';
import type { NetworkRecord, PreparedLink, Sandbox } from '../../src/network/types.js';

const ready = process.getuid?.() === 0 && !!which('etcd');
const PING = which('ping') ? ['ping'] : ['busybox', 'ping'];

/** Runs argv in the namespace at `path`, to completion. */
/** Runs `fn` with some of `rt`'s methods replaced, then gives it its own back. */
async function patched<T>(rt: Rtnl, methods: Partial<Rtnl>, fn: () => Promise<T>): Promise<T> {
  Object.assign(rt, methods);
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(methods)) delete (rt as unknown as Record<string, unknown>)[k];
  }
}

function execInNetns(path: string, argv: string[]) {
  const r = spawnSync('nsenter', [`--net=${path}`, '--', ...argv], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('overlay driver across two hosts', { skip: !ready && 'needs root and etcd' }, () => {
  let lab: Lab;
  const rtnls: Rtnl[] = [];
  const fds: number[] = [];
  const drivers: OverlayDriver[] = [];
  const reapers: LinkReaper[] = [];
  const sandboxes: Sandbox[] = [];
  const net = {
    Name: 'ovt',
    Id: randomBytes(32).toString('hex'),
    Options: {},
    IPAM: {
      Driver: 'default',
      Options: null,
      Config: [{ Subnet: '10.0.0.0/24', Gateway: '10.0.0.1' }],
    },
    berth: { vni: 4097 },
  } as unknown as NetworkRecord;
  const eps = [
    { ip: '10.0.0.2', mac: '02:42:0a:00:00:02', vtep: '192.168.205.10' },
    { ip: '10.0.0.3', mac: '02:42:0a:00:00:03', vtep: '192.168.205.11' },
  ];

  before(async () => {
    lab = await Lab.create({
      name: `od${randomBytes(2).toString('hex')}`,
      hosts: 2,
      cluster: true,
    });
    for (const i of [0, 1]) {
      const h = lab.hosts[i]!;
      const host = Rtnl.open({ netns: lab.netns(i + 1) });
      rtnls.push(host);
      reapers.push(new LinkReaper(host, (e) => assert.fail(String(e))));
      drivers.push(new OverlayDriver(host, join(h.dir, 'run'), h.ip, 1500, reapers[i]!));
      const path = join(h.dir, 'run', 'netns', `ctr${i}`);
      createNetns(path);
      const inside = Rtnl.open({ netns: path });
      rtnls.push(inside);
      const fd = openSync(path, 'r');
      fds.push(fd);
      sandboxes.push({
        containerId: `ctr${i}`,
        netnsPath: path,
        netlink: () => inside,
        nsFd: () => fd,
      });
    }
  });
  after(async () => {
    for (const r of rtnls) r.close();
    for (const fd of fds) closeSync(fd);
    for (const s of sandboxes) await deleteNetns(s.netnsPath!).catch(() => undefined);
    for (const d of drivers) await d.removeNetwork(net).catch(() => undefined);
    await lab?.destroy();
  });

  const ping = (from: number, ip: string) =>
    execInNetns(sandboxes[from]!.netnsPath!, [...PING, '-c1', '-W2', ip]);
  const inOverlay = (h: number, argv: string[]) => execInNetns(drivers[h]!.nsPath(net), argv);

  it('makes br0 and vxlan0 in a namespace of the network: VNI, port 4789, no learning, proxy, MTU 1450', async () => {
    // Host 2's br0 is there already, as an older Berth made it (its MAC the kernel's).
    createNetns(drivers[1]!.nsPath(net));
    inOverlay(1, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    for (const [i, d] of drivers.entries()) {
      await d.ensureNetwork(net);
      await d.ensureNetwork(net); // idempotent
      const vx = JSON.parse(inOverlay(i, ['ip', '-d', '-j', 'link', 'show', 'vxlan0']).stdout)[0];
      const data = vx.linkinfo.info_data;
      assert.deepEqual(
        [data.id, data.port, data.learning, data.proxy, vx.mtu, vx.master],
        [4097, 4789, false, true, 1450, 'br0'],
      );
      assert.equal(data.local, lab.hosts[i]!.ip);
    }
    // What a killed or failed earlier call left half done is completed.
    inOverlay(0, ['ip', 'link', 'set', 'vxlan0', 'nomaster']);
    inOverlay(0, ['ip', 'addr', 'flush', 'dev', 'br0']);
    await drivers[0]!.ensureNetwork(net);
    const again = JSON.parse(inOverlay(0, ['ip', '-d', '-j', 'link', 'show', 'vxlan0']).stdout)[0];
    assert.equal(again.master, 'br0');
    assert.match(
      inOverlay(0, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'br0']).stdout,
      /inet 10\.0\.0\.1\/24 /,
    );
    // Nothing of it is left in the host's namespace.
    assert.doesNotMatch(lab.exec(1, ['ip', '-o', 'link']).stdout, /\bvx[0-9a-f]{10}\b|vxlan0/);
    // br0's MAC (the resolver's) stays when a port with a lower one comes and goes.
    for (const i of [0, 1]) {
      const mac = () =>
        JSON.parse(inOverlay(i, ['ip', '-j', 'link', 'show', 'br0']).stdout)[0].address;
      const before = mac();
      const low = ['link', 'add', 'lowmac', 'address', '02:00:00:00:00:01', 'type', 'veth'];
      assert.equal(inOverlay(i, ['ip', ...low, 'peer', 'name', 'lowmacp']).status, 0);
      inOverlay(i, ['ip', 'link', 'set', 'lowmac', 'master', 'br0', 'up']);
      assert.equal(mac(), before, `host ${i + 1}: br0's MAC followed a new port's`);
      inOverlay(i, ['ip', 'link', 'del', 'lowmac']);
      assert.equal(mac(), before);
    }
  });

  it('joins an endpoint on each host; they ping across hosts once each knows the other', async () => {
    // Host 2's link is prepared before its address is known, as a cluster
    // join does beside its store transaction: its container end is down,
    // without address, until the join configures it.
    const prepared = drivers[1]!.prepare(net, sandboxes[1]!, 'eth0');
    await prepared.make();
    const eth0 = () => execInNetns(sandboxes[1]!.netnsPath!, ['ip', '-o', 'addr', 'show', 'eth0']);
    const link = () => execInNetns(sandboxes[1]!.netnsPath!, ['ip', '-o', 'link', 'show', 'eth0']);
    assert.match(link().stdout, /state DOWN/);
    assert.doesNotMatch(eth0().stdout, /inet /);
    assert.match(inOverlay(1, ['ip', '-o', 'link', 'show', prepared.hostIf]).stdout, /master br0 /);
    for (const i of [0, 1]) {
      const e = eps[i]!;
      const addrs = { ifName: 'eth0', ipv4: e.ip, prefixLen: 24, mac: e.mac, defaultRoute: false };
      const info = await drivers[i]!.join(net, sandboxes[i]!, addrs, i ? prepared : undefined);
      if (i) assert.equal(info.hostIf, prepared.hostIf);
    }
    assert.match(eth0().stdout, /inet 10\.0\.0\.3\/24 /);
    assert.match(link().stdout, new RegExp(`link/ether ${eps[1]!.mac} `));
    assert.notEqual(ping(0, '10.0.0.3').status, 0, 'no peer programmed yet: no path');
    await drivers[0]!.setPeers(net, eps);
    await drivers[1]!.setPeers(net, eps);
    const r = ping(0, '10.0.0.3');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(ping(1, '10.0.0.2').status, 0);
    // One static entry per remote endpoint on the VXLAN device, no flood
    // entry; (the bridge's own learned entries are its ports', as any bridge's).
    const fdb = inOverlay(0, ['bridge', 'fdb', 'show', 'dev', 'vxlan0']).stdout;
    assert.match(
      fdb,
      /^02:42:0a:00:00:03 dst 192\.168\.205\.11 (link-netnsid \d+ )?self permanent$/m,
    );
    assert.doesNotMatch(fdb, /00:00:00:00:00:00/);
    const neigh = inOverlay(0, ['ip', 'neigh', 'show', 'dev', 'vxlan0']).stdout;
    assert.match(neigh, /^10\.0\.0\.3 lladdr 02:42:0a:00:00:03 PERMANENT/m);
  });

  it('a link made beside its transaction waits down with the address sent; join brings it up, or replaces a retried one', async () => {
    const sb = sandboxes[1]!;
    const addr = (ifName: string) =>
      execInNetns(sb.netnsPath!, ['ip', '-o', '-4', 'addr', 'show', ifName]).stdout;
    const link = (ifName: string) =>
      execInNetns(sb.netnsPath!, ['ip', '-o', 'link', 'show', ifName]).stdout;
    const joined = (ifName: string, ipv4: string, mac: string, prepared: PreparedLink) =>
      drivers[1]!.join(
        net,
        sb,
        { ifName, ipv4, prefixLen: 24, mac, defaultRoute: false },
        prepared,
      );
    // Committed as sent: the end already holds its MAC and address, down,
    // and join only brings it up.
    const a = drivers[1]!.prepare(net, sb, 'eth1');
    await a.make({ ipv4: '10.0.0.21', prefixLen: 24, mac: '02:42:0a:00:00:15' });
    assert.match(link('eth1'), /state DOWN .*link\/ether 02:42:0a:00:00:15 /);
    assert.match(addr('eth1'), /inet 10\.0\.0\.21\/24 /);
    const rt = sb.netlink();
    const configure = rt.configureLink.bind(rt);
    const asked: unknown[] = [];
    const spy: Partial<Rtnl> = {
      configureLink: async (index, c) => {
        asked.push(c);
        return configure(index, c);
      },
    };
    await patched(rt, spy, () => joined('eth1', '10.0.0.21', '02:42:0a:00:00:15', a));
    assert.deepEqual(asked, [{ addresses: [], up: true }]);
    assert.match(link('eth1'), /state UP .*link\/ether 02:42:0a:00:00:15 /);
    assert.equal(addr('eth1').match(/inet /g)?.length, 1, addr('eth1'));
    // The transaction was retried and committed another address: it replaces the one sent,
    // and the link carries it (to the network's gateway, on this host's br0).
    const b = drivers[1]!.prepare(net, sb, 'eth2');
    await b.make({ ipv4: '10.0.0.22', prefixLen: 24, mac: '02:42:0a:00:00:16' });
    await joined('eth2', '10.0.0.23', '02:42:0a:00:00:17', b);
    assert.match(link('eth2'), /state UP .*link\/ether 02:42:0a:00:00:17 /);
    assert.match(addr('eth2'), /inet 10\.0\.0\.23\/24 /);
    assert.doesNotMatch(addr('eth2'), /10\.0\.0\.22/);
    const p = execInNetns(sb.netnsPath!, [...PING, '-c1', '-W2', '-I', 'eth2', '10.0.0.1']);
    assert.equal(p.status, 0, p.stdout + p.stderr);
    // A preset whose address went on before it failed, and that could not
    // take it off: join takes it off and configures the link whole.
    const c = drivers[1]!.prepare(net, sb, 'eth3');
    const broken: Partial<Rtnl> = {
      configureLink: async (index, cfg) => {
        await configure(index, cfg);
        throw new Error('injected after the address went on');
      },
      deleteAddress: async () => {
        throw new Error('injected');
      },
    };
    await patched(rt, broken, () =>
      c.make({ ipv4: '10.0.0.24', prefixLen: 24, mac: '02:42:0a:00:00:18' }),
    );
    assert.match(addr('eth3'), /inet 10\.0\.0\.24\/24 /);
    await joined('eth3', '10.0.0.24', '02:42:0a:00:00:18', c);
    assert.match(link('eth3'), /state UP .*link\/ether 02:42:0a:00:00:18 /);
    assert.equal(addr('eth3').match(/inet /g)?.length, 1, addr('eth3'));
    for (const [l, ifName] of [
      [a, 'eth1'],
      [b, 'eth2'],
      [c, 'eth3'],
    ] as const) {
      await drivers[1]!.leave(net, sb, l.hostIf, ifName);
    }
  });

  it('removes what it programmed for an endpoint that went: no path, no stale entry', async () => {
    await drivers[0]!.setPeers(net, [eps[0]!] as OverlayPeer[]);
    assert.notEqual(ping(0, '10.0.0.3').status, 0);
    assert.doesNotMatch(inOverlay(0, ['bridge', 'fdb', 'show', 'dev', 'vxlan0']).stdout, /dst /);
    assert.equal(inOverlay(0, ['ip', 'neigh', 'show', 'dev', 'vxlan0']).stdout.trim(), '');
    await drivers[0]!.setPeers(net, eps);
    assert.equal(ping(0, '10.0.0.3').status, 0);
  });

  it('applies a change of peers on what it programmed, and says when it cannot', async () => {
    const d = drivers[0]!;
    const fdb = () => inOverlay(0, ['bridge', 'fdb', 'show', 'dev', 'vxlan0']).stdout;
    const neigh = () => inOverlay(0, ['ip', 'neigh', 'show', 'dev', 'vxlan0']).stdout.trim();
    assert.equal(await d.changePeers(net, { gone: [eps[1]!], came: [] }), true);
    assert.notEqual(ping(0, '10.0.0.3').status, 0);
    assert.doesNotMatch(fdb(), /dst /);
    assert.equal(neigh(), '');
    // Its own endpoint in a change is not a peer: nothing is programmed for it.
    assert.equal(await d.changePeers(net, { gone: [], came: eps }), true);
    assert.equal(ping(0, '10.0.0.3').status, 0);
    assert.doesNotMatch(fdb(), /02:42:0a:00:00:02 dst/);
    // The same MAC at another address (the container's address given again on
    // another host of the lab's underlay): the old entries give way.
    const moved = { ...eps[1]!, ip: '10.0.0.9' };
    assert.equal(await d.changePeers(net, { gone: [], came: [moved] }), true);
    assert.match(neigh(), /^10\.0\.0\.9 lladdr 02:42:0a:00:00:03 PERMANENT$/);
    assert.equal(await d.changePeers(net, { gone: [moved], came: [eps[1]!] }), true);
    assert.match(neigh(), /^10\.0\.0\.3 lladdr 02:42:0a:00:00:03 PERMANENT$/);
    assert.equal(ping(0, '10.0.0.3').status, 0);
    // vxlan0 made again behind its back: its entries are not known, so a
    // change is refused and the whole set is programmed instead.
    assert.equal(inOverlay(0, ['ip', 'link', 'del', 'vxlan0']).status, 0);
    await d.ensureNetwork(net);
    assert.equal(await d.changePeers(net, { gone: [], came: [] }), false);
    assert.equal(await d.setPeers(net, eps), true);
    assert.equal(ping(0, '10.0.0.3').status, 0);
    // A network this host does not take part in: nothing is made for it.
    const other = { ...net, Id: randomBytes(32).toString('hex') } as NetworkRecord;
    assert.equal(await d.setPeers(other, eps), false);
    assert.equal(await d.changePeers(other, { gone: [], came: eps }), false);
    assert.equal(existsSync(d.nsPath(other)), false);
  });

  it('leaves and removes the network without a trace', async () => {
    const host0If = JSON.parse(inOverlay(0, ['ip', '-j', 'link', 'show', 'master', 'br0']).stdout)
      .map((l: { ifname: string }) => l.ifname)
      .find((n: string) => n.startsWith('veth'));
    await drivers[0]!.leave(net, sandboxes[0]!, host0If, 'eth0');
    // Down at once, in the reaper's group of the network's namespace; gone once it deletes.
    const ctr = () => execInNetns(sandboxes[0]!.netnsPath!, ['ip', '-o', 'link']).stdout;
    assert.match(ctr(), /eth0@\S+ <[^>]*> .*state DOWN/);
    assert.match(inOverlay(0, ['ip', '-d', 'link', 'show', host0If]).stdout, / group 16978 /);
    assert.notEqual(ping(0, '10.0.0.3').status, 0);
    await reapers[0]!.flush();
    assert.doesNotMatch(ctr(), /eth0/);
    assert.equal(inOverlay(0, ['ip', 'link', 'show', host0If]).status, 1);
    for (const d of drivers) await d.removeNetwork(net);
    for (const d of drivers) assert.equal(existsSync(d.nsPath(net)), false);
    for (const h of [1, 2])
      assert.doesNotMatch(lab.exec(h, ['ip', '-o', 'link']).stdout, /\bvx[0-9a-f]{10}\b|veth/);
  });

  it("a peers update that meets the network's removal opens nothing in its namespace", async () => {
    const d = drivers[1]!;
    const gone = { ...net, Id: randomBytes(32).toString('hex') } as NetworkRecord;
    const sockets = () =>
      readdirSync('/proc/self/fd').filter((f) => {
        try {
          return readlinkSync(`/proc/self/fd/${f}`).startsWith('socket:');
        } catch {
          return false;
        }
      }).length;
    const before = sockets();
    await d.ensureNetwork(gone);
    // Another host's `network rm` arrives as the update starts.
    const setting = d.setPeers(gone, eps);
    await d.removeNetworkById(gone.Id);
    assert.equal(await setting, false);
    assert.equal(existsSync(d.nsPath(gone)), false);
    assert.equal(sockets(), before, 'no netlink socket left in the removed namespace');
    // And while the update waits on the kernel for what it programmed before.
    const again = { ...net, Id: randomBytes(32).toString('hex') } as NetworkRecord;
    await d.ensureNetwork(again);
    const inner = (d as unknown as { inside: Map<string, Rtnl> }).inside.get(again.Id)!;
    const list = inner.listNeighbours.bind(inner);
    let removal: Promise<void> | undefined;
    const removing: Partial<Rtnl> = {
      listNeighbours: (q) => {
        const asked = list(q);
        removal = d.removeNetworkById(again.Id);
        return asked;
      },
    };
    await patched(inner, removing, async () => assert.equal(await d.setPeers(again, eps), false));
    await removal;
    assert.equal(await d.changePeers(again, { gone: [], came: eps }), false);
    assert.equal(existsSync(d.nsPath(again)), false);
    assert.equal(sockets(), before, 'none after a removal met mid-update either');
  });

  it('after a kill: completes a half-made namespace and sweeps what no network owns', async () => {
    const h = lab.hosts[0]!;
    // A new driver is a restarted daemon's.
    const fresh = () => new OverlayDriver(rtnls[0]!, join(h.dir, 'run'), h.ip, 1500, reapers[0]!);
    const path = drivers[0]!.nsPath(net);
    // Killed between writing the namespace file and binding it.
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, '');
    await fresh().ensureNetwork(net);
    assert.match(inOverlay(0, ['ip', '-d', 'link', 'show', 'vxlan0']).stdout, /vxlan id 4097 /);
    // Killed between moving the device in and naming it: it holds the VNI.
    assert.equal(inOverlay(0, ['ip', 'link', 'set', 'vxlan0', 'name', 'vx0123456789']).status, 0);
    const d = fresh();
    await d.ensureNetwork(net);
    const links = inOverlay(0, ['ip', '-d', 'link', 'show', 'type', 'vxlan']).stdout;
    assert.match(links, /vxlan0/);
    assert.doesNotMatch(links, /vx0123456789/);
    // A device left in the host under a temporary name, and a gone network's namespace.
    const stray = ['ip', 'link', 'add', 'vx00000000ff', 'type', 'vxlan', 'id', '4099'];
    assert.equal(lab.exec(1, [...stray, 'dstport', '4789', 'local', h.ip]).status, 0);
    const gone = { ...net, Id: randomBytes(32).toString('hex'), berth: { vni: 4098 } };
    await d.ensureNetwork(gone);
    // A veth a killed daemon left to the reaper in the network's namespace.
    const doomed = ['ip', 'link', 'add', 'vethdoom0', 'group', '16978', 'type', 'veth'];
    assert.equal(inOverlay(0, [...doomed, 'peer', 'name', 'vethdoom1']).status, 0);
    await d.sweep((id12) => (net.Id.startsWith(id12) ? net : undefined));
    assert.doesNotMatch(inOverlay(0, ['ip', '-o', 'link']).stdout, /vethdoom/);
    // Veths on br0: one an endpoint record names, one none does (a daemon
    // killed between a leave's record and its link).
    for (const v of ['vethkept', 'vethstray']) {
      const add = ['ip', 'link', 'add', `${v}0`, 'master', 'br0', 'type', 'veth'];
      assert.equal(inOverlay(0, [...add, 'peer', 'name', `${v}1`]).status, 0);
    }
    const named = () => Promise.resolve(new Set(['vethkept0']));
    assert.deepEqual(await d.deleteStrays(net, named), ['vethstray0']);
    const left = inOverlay(0, ['ip', '-o', 'link']).stdout;
    assert.doesNotMatch(left, /vethstray/);
    assert.match(left, /vethkept0/);
    assert.match(left, /vxlan0/);
    assert.equal(existsSync(d.nsPath(gone)), false);
    assert.equal(existsSync(d.nsPath(net)), true);
    assert.doesNotMatch(lab.exec(1, ['ip', '-o', 'link']).stdout, /vx00000000ff/);
    await d.removeNetwork(net);
    assert.equal(existsSync(path), false);
  });

  it('joins on the bridge it remembers, and on a new one when the old went behind its back', async () => {
    const d = drivers[0]!;
    const sandbox = (name: string): Sandbox => {
      const path = join(lab.hosts[0]!.dir, 'run', 'netns', name);
      createNetns(path);
      const inside = Rtnl.open({ netns: path });
      rtnls.push(inside);
      const fd = openSync(path, 'r');
      fds.push(fd);
      const s = { containerId: name, netnsPath: path, netlink: () => inside, nsFd: () => fd };
      sandboxes.push(s);
      return s;
    };
    const addrs = (ip: string, mac: string) => ({
      ifName: 'eth0',
      ipv4: ip,
      prefixLen: 24,
      mac,
      defaultRoute: false,
    });
    const onBr0 = (hostIf: string) =>
      JSON.parse(inOverlay(0, ['ip', '-j', 'link', 'show', hostIf]).stdout)[0].master;
    const a = await d.join(net, sandbox('ctr4'), addrs('10.0.0.4', '02:42:0a:00:00:04'));
    assert.equal(onBr0(a.hostIf!), 'br0');
    // br0 deleted behind the driver's back: the index it remembers is stale.
    assert.equal(inOverlay(0, ['ip', 'link', 'del', 'br0']).status, 0);
    const b = await d.join(net, sandbox('ctr5'), addrs('10.0.0.5', '02:42:0a:00:00:05'));
    assert.equal(onBr0(b.hostIf!), 'br0');
    const vx = JSON.parse(inOverlay(0, ['ip', '-j', 'link', 'show', 'vxlan0']).stdout)[0];
    assert.equal(vx.master, 'br0', 'the network was made whole again');
    const r = execInNetns(sandboxes.at(-1)!.netnsPath!, [...PING, '-c1', '-W2', '10.0.0.1']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    await d.removeNetwork(net);
  });
});
