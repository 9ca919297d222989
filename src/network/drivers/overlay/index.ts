/**
 * `overlay`: one layer-2 segment across hosts over VXLAN (S16, S21). Per
 * network and host, a namespace of its own (as Docker's: the network's
 * subnet never meets the host's routes) holding a bridge `br0` and the
 * VXLAN device `vxlan0` (UDP 4789, the network's VNI, learning off, proxy
 * on, MTU = the uplink's − 50). A container's veth has one end in the
 * container and the other on `br0`.
 *
 * No flooding and no learning: the control plane (the endpoints in the
 * cluster store) tells each host where every remote endpoint is, and
 * `setPeers` programs one static FDB entry (its MAC → its host's address)
 * and one permanent neighbour entry (its IP → its MAC, which the VXLAN
 * device's proxy answers ARP from) per remote endpoint. Nothing on the
 * packet path asks the control plane (no l2miss/l3miss).
 *
 * The VXLAN device is made in the host's namespace (its UDP socket lives
 * there, on the underlay) and then moved into the network's namespace.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, messageOf } from '../../../common/errors.js';
import { createNetns, deleteNetns, isNetns } from '../../../kernel/netns/netns.js';
import { Rtnl, isNotFound, type NeighbourChange } from '../../../kernel/netlink/index.js';
import { Nftables, sweepTraceTables, VXLAN_PORT } from '../../../kernel/firewall/index.js';
import { bridgeMac, vethName } from '../bridge/index.js';
import { DOOMED_GROUP, type LinkReaper } from '../../reaper.js';
import type {
  Peer,
  PeersChange,
  EndpointAddresses,
  ExpectedAddress,
  PreparedLink,
  EndpointInfo,
  Gateway,
  NetworkDriver,
  NetworkRecord,
  Sandbox,
} from '../../types.js';

/** IANA's VXLAN port (Docker's too; the kernel's default is 8472); the firewall keeps containers off it. */
export { VXLAN_PORT };
/** What VXLAN over IPv4 adds to a frame: outer IPv4 20, UDP 8, VXLAN 8, inner Ethernet 14. */
export const VXLAN_OVERHEAD = 50;

/** A remote endpoint of an overlay network, where the control plane says it is. */
export type OverlayPeer = Peer;

const samePeer = (a: OverlayPeer | undefined, b: OverlayPeer) =>
  a !== undefined && a.mac === b.mac && a.ip === b.ip && a.vtep === b.vtep;

const BRIDGE = 'br0';
const VXLAN = 'vxlan0';

/** The network's gateway as `address/prefix` (its first subnet's), if it has one. */
export function gatewayOf(net: NetworkRecord): string | undefined {
  const c = net.IPAM?.Config?.[0];
  if (!c?.Gateway || !c.Subnet) return undefined;
  return `${c.Gateway}/${c.Subnet.split('/')[1]}`;
}

/** The VNI Berth keeps in the network's own part of its record. */
export function vniOf(net: NetworkRecord): number {
  const vni = net.berth?.vni;
  if (vni === undefined) throw new Error(`overlay network ${net.Name} has no VXLAN ID`);
  return vni;
}

export class OverlayDriver implements NetworkDriver {
  readonly name = 'overlay';
  readonly ownNamespace = true;
  readonly exclusive = false;
  readonly addressed = true;
  /** IPv4 only, as Docker 20.10's overlay (network create refuses --ipv6). */
  readonly ipv6 = false;
  /** Its gateway is Berth's resolver, not a router: the gateway bridge routes (S23). */
  readonly gatewayRoute = false;
  readonly scope = 'global';
  /** Sockets into the networks' namespaces, opened on first use. */
  private readonly inside = new Map<string, Rtnl>();
  /** The peers each network has programmed, by MAC. */
  private readonly peers = new Map<string, Map<string, OverlayPeer>>();
  /** Per network, its vxlan0's index once looked up (peers are programmed on it). */
  private readonly vxlans = new Map<string, number>();
  /**
   * Per network this process made whole (ensureNetwork), its bridge's index:
   * later joins skip ensureNetwork's look at the kernel (as the bridge
   * driver keeps its bridges' indexes). Forgotten when the network goes, or
   * when a veth cannot be put on that bridge.
   */
  private readonly made = new Map<string, number>();
  /** Removals of a network's namespace in flight. */
  private readonly removing = new Map<string, Promise<void>>();
  /**
   * The address and MAC a prepared link's container end was being given
   * while it was down (preset), and whether that was done whole.
   */
  private readonly presets = new WeakMap<
    PreparedLink,
    { cidr: string; mac: string; done: boolean }
  >();

  constructor(
    /** rtnetlink in the daemon's (host's) namespace. */
    private readonly host: Rtnl,
    private readonly execRoot: string,
    /** This host's address on the underlay (the VXLAN source address). */
    readonly vtep: string,
    /** The underlay's MTU. */
    private readonly uplinkMtu: number,
    /** Deletes the veths of endpoints that left, when the daemon is idle. */
    private readonly reaper: LinkReaper,
  ) {}

  /** Where the network's namespace lives on this host. */
  nsPath(net: Pick<NetworkRecord, 'Id'>): string {
    // Not in netns/ beside the containers' sandboxes: those the daemon sweeps at start.
    return join(this.execRoot, 'overlay', `ov-${net.Id.slice(0, 12)}`);
  }

  /** The MTU of the network's links: its option, else the uplink's less the VXLAN header. */
  mtuOf(net: NetworkRecord): number {
    const opt = Number(net.Options['com.docker.network.driver.mtu'] || 0);
    return opt > 0 ? opt : this.uplinkMtu - VXLAN_OVERHEAD;
  }

  private netlink(net: Pick<NetworkRecord, 'Id'>): Rtnl {
    let r = this.inside.get(net.Id);
    if (!r) {
      // Not into a namespace on its way out: the socket would keep it alive.
      if (this.removing.has(net.Id)) throw beingRemoved(net);
      r = Rtnl.open({ netns: this.nsPath(net) });
      this.inside.set(net.Id, r);
    }
    return r;
  }

  /**
   * The namespace, the bridge with the gateway address and the VXLAN device
   * on it; idempotent, and completes what a failed or killed earlier call
   * left half done.
   */
  async ensureNetwork(net: NetworkRecord, _gateways: Gateway[] = []): Promise<void> {
    const path = this.nsPath(net);
    // A file left unbound by a daemon killed while making it is bound now.
    if (!isNetns(path)) createNetns(path);
    const mtu = this.mtuOf(net);
    const inside = this.netlink(net);
    // br0's MAC is set, so it stays: else the kernel gives the bridge its
    // lowest port's, and a container leaving would change the MAC of the
    // resolver's address under every other container's ARP cache. One made
    // by an older Berth has its MAC set again, which pins it, and is up.
    const br = await inside.getLink(BRIDGE);
    if (!br) await inside.createBridge({ name: BRIDGE, mtu, up: true, mac: bridgeMac() });
    else await inside.setLink(BRIDGE, { mac: br.mac, up: true });
    // The gateway address, as Docker's overlay bridge has it: Berth's resolver answers there.
    const gw = gatewayOf(net);
    const has = (await inside.listAddresses({ link: BRIDGE, family: 4 })).map((a) => a.cidr);
    if (gw && !has.includes(gw)) await inside.addAddress(BRIDGE, gw);
    if (!(await inside.getLink(VXLAN))) {
      // A daemon killed between moving the device in and naming it left it
      // under its temporary name, holding the VNI.
      for (const l of await inside.listLinks({ kind: 'vxlan' })) {
        await inside.deleteLink(l.name).catch(ignoreMissing);
      }
      await this.makeVxlan(net, path, mtu);
      // A new device: no entry of the old one's is in it.
      this.vxlans.delete(net.Id);
      this.peers.delete(net.Id);
    }
    await inside.setLink(VXLAN, { master: BRIDGE, up: true });
  }

  /**
   * The VXLAN device, made in the host's namespace (its UDP socket stays on
   * the underlay) under a name of Berth's own, then moved into the network's
   * namespace as vxlan0. Only that link is deleted if the move fails.
   */
  private async makeVxlan(net: NetworkRecord, path: string, mtu: number): Promise<void> {
    const tmp = `vx${randomBytes(5).toString('hex')}`;
    await this.host.createVxlan({
      name: tmp,
      vni: vniOf(net),
      local: this.vtep,
      port: VXLAN_PORT,
      learning: false,
      proxy: true,
      mtu,
    });
    try {
      await this.host.setLink(tmp, { netns: path });
    } catch (e) {
      await this.host.deleteLink(tmp).catch(() => undefined);
      throw e;
    }
    await this.netlink(net).setLink(tmp, { name: VXLAN });
  }

  /**
   * Runs `fn` with the index of the network's bridge: the one remembered, or
   * the network made whole first. When `fn` fails on a remembered bridge,
   * the network is made whole again, and `fn` runs once more only if its
   * bridge was not the same (else the error was not the bridge's).
   */
  private async withBridge<T>(net: NetworkRecord, fn: (master: number) => Promise<T>): Promise<T> {
    const known = this.made.get(net.Id);
    if (known !== undefined) {
      try {
        return await fn(known);
      } catch (e) {
        this.made.delete(net.Id);
        await this.ensureNetwork(net);
        const now = await this.netlink(net).index(BRIDGE);
        if (now === known) throw e;
        this.made.set(net.Id, now);
        return fn(now);
      }
    }
    await this.ensureNetwork(net);
    const index = await this.netlink(net).index(BRIDGE);
    this.made.set(net.Id, index);
    return fn(index);
  }

  /**
   * The veth made before its address is known: born in the network's
   * namespace on br0, its peer (down: no carrier, nothing flows) in the
   * container's. `join` gives the peer its MAC and address and brings it up.
   */
  prepare(net: NetworkRecord, sandbox: Sandbox, ifName: string): PreparedLink {
    const link: PreparedLink = {
      hostIf: vethName(),
      make: async (expected) => {
        await this.makeVeth(net, sandbox, { ifName, hostIf: link.hostIf });
        // Looked up now, while the allocation is still under way (join looks again if this failed).
        link.index = await sandbox
          .netlink()
          .index(ifName)
          .catch(() => undefined);
        if (expected && link.index !== undefined) {
          await this.preset(net, sandbox, link, link.index, expected);
        }
      },
    };
    return link;
  }

  /**
   * The address the transaction is about to commit, and its MAC, given to
   * the container's end while it is still down (nothing flows), and that
   * MAC forgotten by br0 (see join): then join has only to bring it up.
   * Best-effort: on an error join takes the address off again, if it was
   * given, and configures the link whole.
   */
  private async preset(
    net: NetworkRecord,
    sandbox: Sandbox,
    link: PreparedLink,
    index: number,
    a: ExpectedAddress,
  ): Promise<void> {
    const preset = { cidr: `${a.ipv4}/${a.prefixLen}`, mac: a.mac, done: false };
    this.presets.set(link, preset);
    try {
      await sandbox
        .netlink()
        .configureLink(index, { mac: a.mac, addresses: [{ cidr: preset.cidr }] });
      await this.netlink(net)
        .deleteFdb({ link: VXLAN, mac: a.mac, master: true })
        .catch(ignoreMissing);
      preset.done = true;
    } catch {
      // Left not done: join takes the address off (if it is there) and configures whole.
    }
  }

  async join(
    net: NetworkRecord,
    sandbox: Sandbox,
    a: EndpointAddresses,
    prepared?: PreparedLink,
  ): Promise<EndpointInfo> {
    if (!sandbox.netnsPath) throw new Error('overlay endpoints need a network namespace');
    if (a.ipv6) throw new Error('overlay endpoints have no IPv6 address');
    if (a.defaultRoute) throw new Error('an overlay network gives no default route');
    const hostIf = prepared?.hostIf ?? vethName();
    if (!prepared) await this.makeVeth(net, sandbox, { ifName: a.ifName, hostIf, mac: a.mac });
    const inside = this.netlink(net);
    const cidr = a.ipv4 && a.prefixLen !== undefined ? `${a.ipv4}/${a.prefixLen}` : undefined;
    const preset = prepared && this.presets.get(prepared);
    const ready = preset?.done === true && preset.cidr === cidr && preset.mac === a.mac;
    try {
      const c = sandbox.netlink();
      const index = prepared?.index ?? (await c.index(a.ifName));
      // Another address than the transaction committed (it was retried), or a preset that failed.
      if (preset && !ready) await c.deleteAddress(index, preset.cidr).catch(ignoreMissing);
      await c.configureLink(index, {
        ...(prepared && a.mac && !ready ? { mac: a.mac } : {}),
        addresses: cidr && !ready ? [{ cidr }] : [],
        up: true,
      });
    } catch (e) {
      await inside.deleteLink(hostIf).catch(() => undefined);
      throw e;
    }
    // br0 may have learnt this MAC behind vxlan0 (an endpoint of another host had the address).
    if (a.mac && !ready)
      await inside.deleteFdb({ link: VXLAN, mac: a.mac, master: true }).catch(ignoreMissing);
    return { ipv4: a.ipv4, prefixLen: a.prefixLen, mac: a.mac, hostIf };
  }

  /** The endpoint's veth: born in the network's namespace on br0, its peer in the container's. */
  private async makeVeth(
    net: NetworkRecord,
    sandbox: Sandbox,
    l: { ifName: string; hostIf: string; mac?: string },
  ): Promise<void> {
    if (!sandbox.netnsPath) throw new Error('overlay endpoints need a network namespace');
    const mtu = this.mtuOf(net);
    await this.withBridge(net, (master) =>
      this.netlink(net).createVeth({
        name: l.hostIf,
        mtu,
        queues: 1,
        up: true,
        master,
        peer: { name: l.ifName, mtu, ...(l.mac ? { mac: l.mac } : {}), nsFd: sandbox.nsFd() },
      }),
    );
  }

  /**
   * As the bridge driver's: the container's end goes down at once, the pair
   * goes to the reaper's group in the network's namespace, where the reaper
   * deletes it later (the kernel's 15-40 ms are not the request's). Without
   * `ifName` (a join that failed) the network's end goes down instead.
   */
  async leave(
    net: NetworkRecord,
    sandbox: Sandbox,
    hostIf?: string,
    ifName?: string,
  ): Promise<void> {
    const path = this.nsPath(net);
    if (!hostIf || !isNetns(path)) return;
    this.reaper.busy();
    if (ifName && sandbox.netnsPath) {
      try {
        await sandbox.netlink().setLink(ifName, { up: false });
      } catch {
        // Best-effort: the container's namespace (and the pair with it) may be gone already.
      }
    }
    try {
      await this.netlink(net).setLink(hostIf, {
        group: DOOMED_GROUP,
        ...(ifName && sandbox.netnsPath ? {} : { up: false }),
      });
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    this.reaper.doomed(path);
  }

  /**
   * Makes the network's remote endpoints exactly `peers` (the local ones are
   * on the bridge): adds the FDB and neighbour entries of new ones, removes
   * those of endpoints that went. False when this host does not take part.
   */
  async setPeers(net: NetworkRecord, peers: OverlayPeer[]): Promise<boolean> {
    const vx = await this.vxlanOf(net);
    if (vx === undefined || this.removing.has(net.Id)) return false;
    const inside = this.netlink(net);
    return this.unlessRemoved(net, inside, async () => {
      // First use since the daemon started: what the kernel holds, not nothing.
      const had = this.peers.get(net.Id) ?? (await this.programmed(inside, vx));
      if (this.inside.get(net.Id) !== inside) return false;
      this.peers.set(net.Id, had);
      const want = new Map(peers.filter((p) => p.vtep !== this.vtep).map((p) => [p.mac, p]));
      const gone = [...had.values()].filter((p) => !samePeer(want.get(p.mac), p));
      const came = [...want.values()].filter((p) => !samePeer(had.get(p.mac), p));
      await this.program(net, vx, had, gone, came);
      return true;
    });
  }

  /**
   * `fn`'s answer, or false when the network's removal (another host's
   * `network rm`) took its namespace, and the socket `inside` into it,
   * meanwhile: a host that no longer takes part programs nothing.
   */
  private async unlessRemoved(
    net: NetworkRecord,
    inside: Rtnl,
    fn: () => Promise<boolean>,
  ): Promise<boolean> {
    try {
      return await fn();
    } catch (e) {
      if (this.inside.get(net.Id) !== inside) return false;
      throw e;
    }
  }

  /**
   * Takes the remote endpoints `gone` out and puts those that `came` in,
   * after `setPeers`. False when this host does not take part, or its
   * entries are not known (the VXLAN device was made again): `setPeers` then.
   */
  async changePeers(net: NetworkRecord, change: PeersChange): Promise<boolean> {
    const had = this.peers.get(net.Id);
    const vx = had && (await this.vxlanOf(net));
    if (!had || vx === undefined || this.removing.has(net.Id)) return false;
    const remote = (p: OverlayPeer) => p.vtep !== this.vtep;
    return this.unlessRemoved(net, this.netlink(net), async () => {
      await this.program(net, vx, had, change.gone.filter(remote), change.came.filter(remote));
      return true;
    });
  }

  /** vxlan0's index in the network's namespace, if this host takes part in the network. */
  private async vxlanOf(net: NetworkRecord): Promise<number | undefined> {
    const known = this.vxlans.get(net.Id);
    if (known !== undefined) return known;
    if (this.removing.has(net.Id)) return undefined;
    // A host takes part in a network once an endpoint of it joined here
    // (a join still making the network programs the peers when it is done).
    if (!this.made.has(net.Id) && !isNetns(this.nsPath(net))) return undefined;
    const inside = this.netlink(net);
    const index = (await inside.getLink(VXLAN))?.index;
    // Not remembered for a network whose removal came meanwhile.
    if (this.inside.get(net.Id) !== inside) return undefined;
    if (index !== undefined) this.vxlans.set(net.Id, index);
    return index;
  }

  /**
   * Removes the entries of `gone` (as `had` has them), then adds those of
   * `came` (replacing an entry of the same MAC that differs), in a few
   * round trips, and keeps `had` as the kernel then has it. A failure
   * forgets vxlan0's index and the entries (the device may have been made
   * again, and which requests were done is not known): the next call
   * looks both up.
   */
  private async program(
    net: NetworkRecord,
    vx: number,
    had: Map<string, OverlayPeer>,
    gone: OverlayPeer[],
    came: OverlayPeer[],
  ): Promise<void> {
    const changes: NeighbourChange[] = [];
    // What `had` becomes once the kernel took the changes (by MAC; undefined: removed).
    const after = new Map<string, OverlayPeer | undefined>();
    const now = (mac: string) => (after.has(mac) ? after.get(mac) : had.get(mac));
    const remove = (p: OverlayPeer) => {
      // (An FDB entry found without its neighbour entry has no address.)
      if (p.ip) changes.push({ op: 'delete-neighbour', entry: { link: vx, ip: p.ip } });
      changes.push(
        { op: 'delete-fdb', entry: { link: vx, mac: p.mac, dst: p.vtep } },
        // And br0's entry learnt from its frames: else a local endpoint that
        // later has that MAC (the same address, another host) stays unreachable.
        { op: 'delete-fdb', entry: { link: vx, mac: p.mac, master: true } },
      );
      after.set(p.mac, undefined);
    };
    for (const p of gone) {
      const q = now(p.mac);
      if (q) remove(q);
    }
    for (const p of came) {
      const q = now(p.mac);
      if (samePeer(q, p)) continue;
      if (q) remove(q);
      changes.push(
        { op: 'add-fdb', entry: { link: vx, mac: p.mac, dst: p.vtep }, append: true },
        { op: 'add-neighbour', entry: { link: vx, ip: p.ip, mac: p.mac }, replace: true },
      );
      after.set(p.mac, p);
    }
    if (!changes.length) return;
    try {
      await this.netlink(net).changeNeighbours(changes);
    } catch (e) {
      this.vxlans.delete(net.Id);
      this.peers.delete(net.Id);
      throw e;
    }
    for (const [mac, p] of after) {
      if (p) had.set(mac, p);
      else had.delete(mac);
    }
  }

  /**
   * The remote endpoints a network's namespace holds (an FDB entry with a
   * remote address on vxlan0, with its permanent neighbour entry), as an
   * earlier daemon programmed them.
   */
  private async programmed(inside: Rtnl, vx: number): Promise<Map<string, OverlayPeer>> {
    const ips = new Map(
      (await inside.listNeighbours({ link: vx, family: 4 }))
        .filter((n) => n.mac && n.ip)
        .map((n) => [n.mac!, n.ip!]),
    );
    const out = new Map<string, OverlayPeer>();
    for (const f of await inside.listFdb({ link: vx })) {
      if (!f.mac || !f.ip || f.mac === '00:00:00:00:00:00') continue;
      // An entry without its neighbour is still removed: its ip is then empty.
      out.set(f.mac, { mac: f.mac, vtep: f.ip, ip: ips.get(f.mac) ?? '' });
    }
    return out;
  }

  /**
   * After a daemon start, once the cluster's networks are known: the
   * namespaces of networks that are gone are removed, the others completed
   * (a daemon killed while making one), and VXLAN devices left in the
   * host's namespace under Berth's temporary names are deleted.
   */
  async sweep(known: (id12: string) => NetworkRecord | undefined): Promise<void> {
    for (const l of await this.host.listLinks({ kind: 'vxlan' })) {
      if (/^vx[0-9a-f]{10}$/.test(l.name)) await this.host.deleteLink(l.name).catch(ignoreMissing);
    }
    const dir = join(this.execRoot, 'overlay');
    const failed: string[] = [];
    for (const f of existsSync(dir) ? readdirSync(dir) : []) {
      const m = /^ov-([0-9a-f]{12})$/.exec(f);
      if (!m) continue;
      const net = known(m[1]!);
      // One network that cannot be made whole leaves the others swept.
      try {
        if (net) {
          await this.ensureNetwork(net);
          // Veths a killed daemon left to the reaper.
          await this.netlink(net).deleteGroup(DOOMED_GROUP).catch(ignoreMissing);
          // And the trace table of a `network trace` it did not finish (decision 0033).
          sweepTraceTablesIn(join(dir, f));
        } else await this.removeNetworkById(m[1]!); // its path is of the ID's first 12
      } catch (e) {
        failed.push(`${f}: ${messageOf(e)}`);
      }
    }
    if (failed.length) throw new Error(`overlay sweep: ${failed.join('; ')}`);
  }

  /**
   * Deletes the veths on the network's br0 that no endpoint of this host
   * names (`named`, read after the links are listed, so a join in flight,
   * whose record names its link before it is made, keeps it): a daemon
   * killed between a leave's record and its link, or while joining, left
   * them, with the container's end up and holding its address. Returns
   * their names.
   */
  async deleteStrays(
    net: NetworkRecord,
    named: () => Promise<ReadonlySet<string>>,
  ): Promise<string[]> {
    if (!isNetns(this.nsPath(net))) return [];
    const inside = this.netlink(net);
    const ports = (await inside.listLinks({ master: BRIDGE }).catch(ignoreMissing)) ?? [];
    const veths = ports.filter((l) => l.kind === 'veth');
    if (!veths.length) return [];
    const keep = await named();
    const stray = veths.filter((l) => !keep.has(l.name)).map((l) => l.name);
    for (const name of stray) await inside.deleteLink(name).catch(ignoreMissing);
    return stray;
  }

  /** The namespace goes, and the bridge, VXLAN device and veth ends with it. */
  async removeNetwork(net: NetworkRecord): Promise<void> {
    await this.removeNetworkById(net.Id);
  }

  /** removeNetwork for a network known only by its ID (removed on another host). */
  async removeNetworkById(id: string): Promise<void> {
    // The local rm and the store's event may both ask: the second waits for the first.
    const busy = this.removing.get(id);
    if (busy) return busy;
    const done = (async () => {
      const path = this.nsPath({ Id: id });
      const inside =
        this.inside.get(id) ?? (isNetns(path) ? Rtnl.open({ netns: path }) : undefined);
      this.inside.delete(id);
      this.peers.delete(id);
      this.vxlans.delete(id);
      this.made.delete(id);
      try {
        // The VXLAN device first: a namespace's links go when the kernel gets
        // round to freeing it, and until then the device keeps its VNI taken
        // (and its socket) in the host's namespace: a network made again
        // with that VNI could not have its own.
        await inside?.deleteLink(VXLAN).catch(ignoreMissing);
      } finally {
        inside?.close();
      }
      if (existsSync(path)) await deleteNetns(path);
    })().finally(() => this.removing.delete(id));
    this.removing.set(id, done);
    return done;
  }
}

/** Deletes the trace tables left in a network's namespace; best-effort. */
function sweepTraceTablesIn(netns: string): void {
  try {
    const nft = Nftables.open({ netns });
    try {
      sweepTraceTables(nft);
    } finally {
      nft.close();
    }
  } catch {
    // No nftables there (a test's stub): nothing to sweep.
  }
}

function ignoreMissing(e: unknown): void {
  if (!isNotFound(e)) throw e;
}

/** A network whose removal (another host's `network rm`) took its namespace while a call used it. */
const beingRemoved = (net: Pick<NetworkRecord, 'Id'>) =>
  new BerthError('NOT_FOUND', `network ${net.Id.slice(0, 12)} is being removed`);
