// rtnetlink requests and replies against real bytes: requests compared with
// what iproute2 sends for the same command (captured with `strace -xx`),
// replies decoded from what the kernel (6.x) sent for a bridge set-up.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { attrString, parseAttrs, type NlMessage } from '../../src/kernel/netlink/codec.js';
import {
  decodeLink,
  delLinkMsg,
  getLinkMsg,
  newBridgeMsg,
  newVethMsg,
  newVxlanMsg,
  setLinkMsg,
  delGroupMsg,
} from '../../src/kernel/netlink/msg-link.js';
import { addrMsg, decodeAddress } from '../../src/kernel/netlink/msg-addr.js';
import { decodeRoute, routeMsg } from '../../src/kernel/netlink/msg-route.js';
import { decodeNeighbour, fdbMsg, neighMsg } from '../../src/kernel/netlink/msg-neigh.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const body = (msg: Buffer): string => msg.subarray(16).toString('hex');
const header = (msg: Buffer): [number, number, number] => [
  msg.readUInt32LE(0),
  msg.readUInt16LE(4),
  msg.readUInt16LE(6),
];

/** ifinfomsg + attributes as a comparable tree; strings without their (optional) NUL. */
function linkTree(p: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = { ifinfomsg: p.subarray(0, 16).toString('hex') };
  for (const [t, v] of parseAttrs(p, 16)) {
    out[t] = t === 3 ? attrString(v) : t === 18 ? linkinfoTree(v) : v.toString('hex');
  }
  return out;
}

function linkinfoTree(v: Buffer): Record<string, unknown> {
  const a = parseAttrs(v);
  const kind = attrString(a.get(1));
  const data = a.get(2);
  if (!data) return { kind };
  if (kind === 'veth') return { kind, peer: linkTree(parseAttrs(data).get(1)!) };
  return {
    kind,
    data: Object.fromEntries([...parseAttrs(data)].map(([t, x]) => [t, x.toString('hex')])),
  };
}

describe('rtnetlink requests, byte for byte as iproute2', () => {
  it('ip addr add 10.88.0.1/24 brd + dev 2', () => {
    const msg = addrMsg(20, 2, '10.88.0.1/24');
    assert.deepEqual(header(msg), [48, 20, 0x600]);
    assert.equal(
      body(msg),
      hex('02180000 02000000 08000200 0a580001 08000100 0a580001 08000400 0a5800ff').toString(
        'hex',
      ),
    );
  });

  it('ip addr add fd00:88::1/64 dev 2 nodad', () => {
    const msg = addrMsg(20, 2, 'fd00:88::1/64', { nodad: true });
    assert.equal(
      body(msg),
      hex(
        '0a400200 02000000 14000200 fd000088 00000000 00000000 00000001 14000100 fd000088 00000000 00000000 00000001',
      ).toString('hex'),
    );
  });

  it('ip route add default via 10.88.0.9, and del', () => {
    const add = routeMsg(24, { gateway: '10.88.0.9' });
    assert.deepEqual(header(add), [36, 24, 0x600]);
    assert.equal(body(add), '02000000fe03000100000000080005000a580009');
    const del = routeMsg(25, { gateway: '10.88.0.9' });
    assert.deepEqual(header(del), [36, 25, 0]);
    assert.equal(body(del), '02000000fe00ff0000000000080005000a580009');
  });

  it('ip route add default via 10.99.0.1 dev 2 onlink', () => {
    const msg = routeMsg(24, { gateway: '10.99.0.1', oif: 2, onlink: true });
    assert.equal(
      body(msg),
      hex('02000000 fe030001 04000000 08000500 0a630001 08000400 02000000').toString('hex'),
    );
  });

  it('ip neigh add 10.88.0.9 lladdr 02:00:00:00:00:09 dev 2 nud permanent', () => {
    const msg = neighMsg(28, { index: 2, ip: '10.88.0.9', mac: '02:00:00:00:00:09' });
    assert.deepEqual(header(msg), [48, 28, 0x600]);
    assert.equal(
      body(msg),
      hex('02000000 02000000 80000000 08000100 0a580009 0a000200 02000000 00090000').toString(
        'hex',
      ),
    );
  });

  it('bridge fdb append 00:00:00:00:00:00 dev 5 dst 10.88.0.7, and del', () => {
    const want = hex(
      '07000000 05000000 c0000200 0a000200 00000000 00000000 08000100 0a580007',
    ).toString('hex');
    const f = { index: 5, mac: '00:00:00:00:00:00', dst: '10.88.0.7' };
    const add = fdbMsg(28, f, true);
    assert.deepEqual(header(add), [48, 28, 0xc00]);
    assert.equal(body(add), want);
    const del = fdbMsg(29, f);
    assert.deepEqual(header(del), [48, 29, 0]);
    assert.equal(body(del), want);
  });

  it('ip link set dev 2 up; ip link set dev 4 master 2 (as RTM_SETLINK)', () => {
    const up = setLinkMsg(2, { up: true });
    assert.deepEqual(header(up), [32, 19, 0]);
    assert.equal(body(up), '00000000020000000100000001000000');
    assert.equal(
      body(setLinkMsg(4, { master: 2 })),
      hex('00000000 04000000 00000000 00000000 08000a00 02000000').toString('hex'),
    );
    // Releasing from the bridge is IFLA_MASTER 0.
    assert.equal(body(setLinkMsg(4, { master: null })).slice(-8), '00000000');
  });

  it('ip link delete group 16978; ip link set dev 4 group 16978', () => {
    const del = delGroupMsg(0x4252);
    assert.deepEqual(header(del), [40, 17, 0]);
    assert.equal(
      body(del),
      hex('00000000 00000000 00000000 00000000 08001b00 52420000').toString('hex'),
    );
    assert.equal(body(setLinkMsg(4, { group: 0x4252 })).slice(-16), '08001b0052420000');
  });

  it('ip link set dev eth1 down (by name: index 0 and IFLA_IFNAME); a rename needs the index', () => {
    assert.equal(
      body(setLinkMsg('eth1', { up: false })),
      hex('00000000 00000000 00000000 01000000 09000300 65746831 00000000').toString('hex'),
    );
    assert.throws(() => setLinkMsg('eth1', { name: 'eth2' }), /renaming eth1 needs its index/);
  });

  it('ip link add br1 mtu 1400 address 02:42:ac:11:00:01 type bridge (same attributes)', () => {
    const ip = hex(
      '00000000 00000000 00000000 00000000 08000400 78050000 0a000100 0242ac11 00010000 08000300 62723100 10001200 0a000100 62726964 67650000',
    );
    const msg = newBridgeMsg({ name: 'br1', mtu: 1400, mac: '02:42:ac:11:00:01' });
    assert.deepEqual(header(msg).slice(1), [16, 0x600]);
    assert.deepEqual(linkTree(msg.subarray(16)), linkTree(ip));
  });

  it('ip link add vethx mtu 1400 type veth peer name eth0 netns FD (same attributes, plus the peer MTU)', () => {
    const ip = hex(
      '00000000 00000000 00000000 00000000 08000400 78050000 0a000300 76657468 78000000 38001200 08000100 76657468' +
        '2c000200 28000100 00000000 00000000 00000000 00000000 08001c00 04000000 09000300 65746830 00000000',
    );
    const msg = newVethMsg({ name: 'vethx', mtu: 1400, peer: { name: 'eth0', nsFd: 4 } });
    const ours = linkTree(msg.subarray(16));
    const peer = (ours[18] as { peer: Record<string, unknown> }).peer;
    // iproute2 leaves the peer at the default MTU; we give it this end's.
    assert.equal(peer[4], '78050000');
    delete peer[4];
    assert.deepEqual(ours, linkTree(ip));
  });

  it('veth enslaved and up in the creating request', () => {
    const msg = newVethMsg({ name: 'v', master: 7, up: true, peer: { name: 'p' } });
    const tree = linkTree(msg.subarray(16));
    assert.equal(tree.ifinfomsg, '00000000000000000100000001000000');
    assert.equal(tree[10], '07000000');
    assert.equal((tree[18] as { peer: Record<string, unknown> }).peer.ifinfomsg, '0'.repeat(32));
  });

  it('ip link add vx0 type vxlan id 42 local 10.88.0.1 dstport 4789 dev 2 nolearning (same attributes)', () => {
    const ip = hex(
      '00000000 00000000 00000000 00000000 08000300 76783000 3c001200 09000100 76786c61 6e000000 2c000200' +
        '08000300 02000000 08000100 2a000000 08000400 0a580001 05000700 00000000 06000f00 12b50000',
    );
    const msg = newVxlanMsg({ name: 'vx0', vni: 42, local: '10.88.0.1', port: 4789, dev: 2 });
    assert.deepEqual(linkTree(msg.subarray(16)), linkTree(ip));
  });

  it('names a link by index or by IFLA_IFNAME', () => {
    assert.equal(body(delLinkMsg(6)), '00000000060000000000000000000000');
    const byName = delLinkMsg('br1');
    assert.equal(body(byName), '00000000000000000000000000000000' + '0800030062723100');
    // Lookups ask the kernel to leave the statistics out (IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS).
    assert.equal(body(getLinkMsg(1)).slice(32), '08001d0008000000');
  });
});

const reply = (type: number, h: string): NlMessage => ({
  type,
  flags: 0,
  seq: 0,
  pid: 0,
  payload: hex(h).subarray(16),
});

describe('rtnetlink replies from the kernel', () => {
  it('decodes a veth enslaved to a bridge, its peer in another namespace', () => {
    const m = reply(
      16,
      '000000000000000000000000000000000000010003000000031000000000000010000300766574683132333435363700' +
        '08000d00e803000005001000020000000500110000000000050043000000000008000400dc0500000800320044000000' +
        '08003300ffff000008001b000000000008001e000100000008003d000100000008001f000200000008002800ffff0000' +
        '080029000000010008003a000000010008003f0000000100080040000000010008003b00f8ff070008003c00ffff0000' +
        '0800420000000000080020000200000008000a00020000000500210000000000080023000100000008002f0000000000' +
        '08003000010000000600440000000000060045000000000005002700000000000a0001007299a058a53500000a000200' +
        'ffffffffffff0000cc001700000000000000000000000000000000000000000000000000000000000000000000000000' +
        '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
        '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
        '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
        '000000000000000000000000000000000000000064000700000000000000000000000000000000000000000000000000' +
        '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
        '0000000000000000000000000000000000000000000000000c002b0005000200000000006c0112000900010076657468' +
        '000000000b00040062726964676500005001050005000100000000000600020020000000080003000200000005000400' +
        '0000000005000500000000000500060000000000050007000000000005001c0000000000050008000100000005000900' +
        '0100000005001b000100000005001e000100000005000a000000000005000c00000000000c000d0080000242ac110001' +
        '0c000e0080000242ac11000106000f000180000006001000000000000600110001800000060012000100000005001300' +
        '00000000050014000000000005001d000000000006001f00000000000500200000000000050023000000000005002400' +
        '0000000005002100000000000500270000000000050028000000000005002b00000000000c0015000000000000000000' +
        '0c00160000000000000000000c0017000000000000000000050019000100000008002500000200000800260000000000' +
        '080029000000000008002a0000000000080025000000000008000500020000000c0006006e6f717565756500c0011a00' +
        '8c0002008800010000000000000000000000000001000000010000000100000001000000000000000100000000000000' +
        '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
        '0000000000000000000000000000000010270000e8030000000000000000000000000000000000000100000030010a00' +
        '080001000000000014000500ffff00003e6a0800844c0000e8030000f40002000000000040000000dc05000001000000' +
        '010000000100000001000000ffffffffa00f0000e803000000000000803a090080510100030000005802000010000000' +
        '0000000001000000010000000100000060ea000000000000000000000000000000000000000000000000000001000000' +
        '000000000000000010270000e80300000100000000000000000000000100000000000000000000000100000000000000' +
        '00000000000000000000000080ee36000000000000000000010000000000000000000000000000000000000000000000' +
        '0004000000000000ffff0000ffffffff0100000000000000000000000000000014000700000000000000000000000000' +
        '00000000050008000000000024000e000000000000000000000000000000000000000000000000000000000000000000' +
        '04003e8004004180',
    );
    assert.deepEqual(decodeLink(m), {
      index: 3,
      name: 'veth1234567',
      flags: 0x1003,
      up: true,
      lowerUp: false,
      kind: 'veth',
      mtu: 1500,
      mac: '72:99:a0:58:a5:35',
      master: 2,
      parent: 2,
      parentNetnsId: 0,
      operstate: 2,
    });
  });

  it("decodes a VXLAN device's VNI, source address and UDP port (IFLA_INFO_DATA)", () => {
    // The attributes iproute2 sends for `ip link add vx0 type vxlan id 42 local
    // 10.88.0.1 dstport 4789`: a dump reports a VXLAN link with the same ones.
    const m = reply(
      16,
      '00000000 00000000 00000000 00000000 00000000 09000000 00000000 00000000 08000300 76783000' +
        '3c001200 09000100 76786c61 6e000000 2c000200 08000300 02000000 08000100 2a000000 08000400' +
        '0a580001 05000700 00000000 06000f00 12b50000',
    );
    const link = decodeLink(m);
    assert.equal(link.kind, 'vxlan');
    assert.equal(link.index, 9);
    assert.deepEqual(link.vxlan, { vni: 42, local: '10.88.0.1', port: 4789 });
  });

  it('decodes an IPv4 address with its label and flags', () => {
    const m = reply(
      20,
      '00000000000000000000000000000000021080000200000008000100ac11000108000200ac11000108000400ac11ffff' +
        '0800030062723000080008008000000014000600ffffffffffffffff1150080011500800',
    );
    assert.deepEqual(decodeAddress(m), {
      index: 2,
      family: 4,
      address: '172.17.0.1',
      prefixLength: 16,
      cidr: '172.17.0.1/16',
      scope: 0,
      flags: 0x80,
      label: 'br0',
    });
  });

  it('decodes a kernel route for a connected prefix', () => {
    const m = reply(
      24,
      '0000000000000000000000000000000002100000fe02fd011000000008000f00fe00000008000100ac110000' +
        '08000700ac1100010800040002000000',
    );
    assert.deepEqual(decodeRoute(m), {
      family: 4,
      dst: '172.17.0.0/16',
      table: 254,
      protocol: 2,
      scope: 253,
      type: 1,
      flags: 0x10, // RTNH_F_LINKDOWN: the bridge had no port up yet
      oif: 2,
      src: '172.17.0.1',
    });
  });

  it('decodes a permanent neighbour', () => {
    const m = reply(
      28,
      '0000000000000000000000000000000002000000020000008000000108000100ac1100090a0002000242ac110009' +
        '000008000400000000001400030000000000000000000000000000000000',
    );
    assert.deepEqual(decodeNeighbour(m), {
      family: 2,
      index: 2,
      state: 0x80,
      flags: 0,
      ip: '172.17.0.9',
      mac: '02:42:ac:11:00:09',
    });
  });
});
