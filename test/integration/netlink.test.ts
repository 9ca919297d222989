// The rtnetlink layer against the real kernel, in two throwaway namespaces:
// "h" plays the host (a bridge), "c" a container (the veth peer is born
// there). Everything is configured through Rtnl only; `ip` and `busybox`
// only create/delete the namespaces, inspect, and ping inside them. Needs
// root. Nothing in the machine's own namespace is created or changed, and no
// thread of this process is left in a foreign namespace.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readlinkSync } from 'node:fs';
import {
  Rtnl,
  deleteLinkIfExists,
  isExists,
  isNotFound,
  readSysctl,
  withRtnl,
  writeSysctl,
  type NetlinkError,
} from '../../src/kernel/netlink/index.js';
import { Conntrack } from '../../src/kernel/netlink/conntrack.js';
import { DOOMED_GROUP, LinkReaper } from '../../src/network/reaper.js';
import { BridgeDriver } from '../../src/network/drivers/bridge/index.js';
import { MemoryFirewall } from '../../src/kernel/firewall/index.js';
import type { NetworkRecord } from '../../src/network/types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const isRoot = process.getuid?.() === 0;
const prefix = `nl${randomBytes(3).toString('hex')}`;
const H = `${prefix}-h`;
const C = `${prefix}-c`;
const hPath = `/run/netns/${H}`;
const cPath = `/run/netns/${C}`;
const BR_MAC = '02:42:0a:4d:00:01';
const CT_MAC = '02:42:0a:4d:00:02';

function sh(argv: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 20_000 });
}

function inNs(ns: string, argv: string[]): ReturnType<typeof sh> {
  return sh(['nsenter', `--net=/run/netns/${ns}`, '--', ...argv]);
}

/** The machine's own links and routes, to prove the test leaves them alone. */
function machine(): string {
  const links = sh(['ip', '-o', 'link']).stdout.replace(/\\.*$/gm, '');
  return `${links}\n${sh(['ip', 'route']).stdout}\n${sh(['ip', '-6', 'route']).stdout}`;
}

function threadNamespaces(): string[] {
  return readdirSync('/proc/self/task').map((t) => readlinkSync(`/proc/self/task/${t}/ns/net`));
}

const homeNs = isRoot ? readlinkSync('/proc/self/ns/net') : '';

function assertAllThreadsHome(): void {
  for (const ns of threadNamespaces()) assert.equal(ns, homeNs);
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<NetlinkError> {
  const e = await p.then(
    () => assert.fail(`expected ${code}`),
    (err: unknown) => err as NetlinkError,
  );
  assert.equal(e.code, code, e.message);
  return e;
}

describe('rtnetlink in namespaces', { skip: !isRoot && 'needs root' }, () => {
  let machineBefore = '';
  let forwardBefore = '';
  let h: Rtnl;

  before(() => {
    machineBefore = machine();
    forwardBefore = readSysctl('net.ipv4.ip_forward');
    for (const ns of [H, C]) assert.equal(sh(['ip', 'netns', 'add', ns]).status, 0);
    h = Rtnl.open({ netns: hPath });
  });

  afterEach(() => assertAllThreadsHome());

  after(() => {
    h?.close();
    for (const ns of [H, C]) sh(['ip', 'netns', 'del', ns]);
    assert.equal(machine(), machineBefore, "the machine's links or routes changed");
    assert.equal(readSysctl('net.ipv4.ip_forward'), forwardBefore);
    assertAllThreadsHome();
  });

  it('creates a bridge with its name, MTU and MAC, up', async () => {
    await h.createBridge({ name: 'br0', mtu: 1450, mac: BR_MAC, up: true });
    const br = await h.getLink('br0');
    assert.ok(br);
    assert.deepEqual([br.kind, br.mtu, br.mac, br.up], ['bridge', 1450, BR_MAC, true]);
    assert.equal((await h.getLink(br.index))?.name, 'br0');
    await h.addAddress('br0', '10.77.0.1/24');
    await h.addAddress('br0', 'fd00:77::1/64', { nodad: true });
  });

  it('creates a veth whose peer is born in the container namespace, enslaved and up', async () => {
    await h.createVeth({
      name: 'veth7a1b2c3',
      mtu: 1450,
      master: 'br0',
      up: true,
      peer: { name: 'tmp7a1b2c3', netns: cPath },
    });
    const hostEnd = await h.getLink('veth7a1b2c3');
    assert.ok(hostEnd);
    assert.equal(hostEnd.kind, 'veth');
    assert.equal(hostEnd.master, (await h.getLink('br0'))?.index);
    assert.equal(hostEnd.up, true);
    assert.equal(await h.getLink('tmp7a1b2c3'), undefined, 'the peer showed up on the host side');
    const ports = await h.listLinks({ master: 'br0' });
    assert.deepEqual(
      ports.map((l) => l.name),
      ['veth7a1b2c3'],
    );
    const peer = await withRtnl(cPath, (c) => c.getLink('tmp7a1b2c3'));
    assert.deepEqual([peer?.kind, peer?.mtu, peer?.up], ['veth', 1450, false]);
  });

  it('names the peer eth0 and configures it from a socket opened inside', async () => {
    await withRtnl(cPath, async (c) => {
      await c.setLink('tmp7a1b2c3', { name: 'eth0', mac: CT_MAC, mtu: 1400 });
      await c.setLink('eth0', { up: true });
      const tooSmall = await rejectsWith(c.setLink('eth0', { mtu: 60 }), 'EINVAL');
      assert.ok(tooSmall.kernelMessage, 'the kernel explains an invalid MTU (extended ack)');
      await c.addAddress('eth0', '10.77.0.2/24');
      await c.addAddress('eth0', 'fd00:77::2/64', { nodad: true });
      await c.addRoute({ gateway: '10.77.0.1' });
      await c.addRoute({ gateway: 'fd00:77::1', dev: 'eth0' });
      const eth0 = await c.getLink('eth0');
      assert.deepEqual([eth0?.mac, eth0?.mtu, eth0?.up], [CT_MAC, 1400, true]);
      const addrs = (await c.listAddresses({ link: 'eth0' })).map((a) => a.cidr);
      assert.ok(addrs.includes('10.77.0.2/24') && addrs.includes('fd00:77::2/64'), addrs.join());
      const routes = await c.listRoutes();
      const defaults = routes.filter((r) => r.dst === 'default').map((r) => [r.family, r.gateway]);
      assert.deepEqual(defaults, [
        [4, '10.77.0.1'],
        [6, 'fd00:77::1'],
      ]);
    });
    const seen = inNs(C, ['ip', '-o', 'addr', 'show', 'dev', 'eth0']).stdout;
    assert.match(seen, /inet 10\.77\.0\.2\/24/);
  });

  it('configures a link in one round trip: addresses, up, routes; a failed part rejects', async () => {
    await h.createVeth({ name: 'vcfg', peer: { name: 'cfg0', netns: cPath } });
    try {
      await withRtnl(cPath, async (c) => {
        const index = await c.index('cfg0');
        await c.configureLink(index, {
          addresses: [{ cidr: '10.78.0.2/24' }, { cidr: 'fd00:78::2/64', nodad: true }],
          up: true,
          routes: [{ gateway: '10.78.0.1', table: 100 }],
        });
        assert.equal((await c.getLink(index))?.up, true);
        const addrs = (await c.listAddresses({ link: index })).map((a) => a.cidr);
        assert.ok(addrs.includes('10.78.0.2/24') && addrs.includes('fd00:78::2/64'), addrs.join());
        const r = (await c.listRoutes({ table: 100 })).find((x) => x.dst === 'default');
        assert.deepEqual([r?.gateway, r?.oif], ['10.78.0.1', index]);
        // The same address again: EEXIST, after the kernel went through the rest.
        await rejectsWith(
          c.configureLink(index, { addresses: [{ cidr: '10.78.0.2/24' }], up: true }),
          'EEXIST',
        );
      });
    } finally {
      await h.deleteLink('vcfg');
    }
  });

  it('bridge driver: attaches to a bridge made again under the same name (new index)', async () => {
    const reaper = new LinkReaper(h, () => undefined);
    const driver = new BridgeDriver(h, 1500, new MemoryFirewall(), reaper);
    const net = { Id: 'ab'.repeat(32), Options: {} } as unknown as NetworkRecord;
    const br = 'br-abababababab';
    const inside = Rtnl.open({ netns: cPath });
    // The sandbox's fd serves both joins: the driver must not close it.
    const fd = openSync(cPath, 'r');
    const sandbox = { containerId: 'c1', netnsPath: cPath, netlink: () => inside, nsFd: () => fd };
    const made: string[] = [br];
    try {
      await h.createBridge({ name: br, up: true });
      const first = await driver.join(net, sandbox, { ifName: 'bx0', defaultRoute: false });
      made.push(first.hostIf!);
      await h.deleteLink(br); // the remembered index is stale now
      await h.createBridge({ name: br, up: true });
      const again = await driver.join(net, sandbox, {
        ifName: 'bx1',
        ipv4: '10.79.0.2',
        prefixLen: 24,
        defaultRoute: false,
      });
      made.push(again.hostIf!);
      const port = await h.getLink(again.hostIf!);
      assert.equal(port?.master, await h.index(br));
      assert.equal((await inside.getLink('bx1'))?.up, true);
      assert.notEqual(first.hostIf, again.hostIf);
    } finally {
      for (const l of made) await h.deleteLink(l).catch(() => undefined);
      inside.close();
      closeSync(fd);
    }
  });

  it('carries traffic across (IPv4 and IPv6) and learns the gateway as a neighbour', async () => {
    const v4 = inNs(C, ['busybox', 'ping', '-c', '1', '-W', '3', '10.77.0.1']);
    assert.equal(v4.status, 0, v4.stdout + v4.stderr);
    const v6 = inNs(C, ['busybox', 'ping6', '-c', '1', '-W', '3', 'fd00:77::1']);
    assert.equal(v6.status, 0, v6.stdout + v6.stderr);
    const back = inNs(H, ['busybox', 'ping', '-c', '1', '-W', '3', '10.77.0.2']);
    assert.equal(back.status, 0, back.stdout + back.stderr);
    const neigh = await withRtnl(cPath, (c) => c.listNeighbours({ link: 'eth0', family: 4 }));
    assert.equal(neigh.find((n) => n.ip === '10.77.0.1')?.mac, BR_MAC);
  });

  it('creates links without an IPv6 link-local address when asked, still up', async () => {
    await h.createBridge({ name: 'brnoll', up: true, ipv6LinkLocal: false });
    const d = inNs(H, ['ip', '-d', 'link', 'show', 'brnoll']).stdout;
    assert.match(d, /addrgenmode none/);
    assert.match(d, /<[^>]*\bUP\b/);
    assert.equal(inNs(H, ['ip', '-6', 'addr', 'show', 'dev', 'brnoll']).stdout, '');
    await h.deleteLink('brnoll');
    // Below 1280 a link has no IPv6 at all (EAFNOSUPPORT for the mode): still made, and up.
    await h.createBridge({ name: 'brsmall', mtu: 68, up: true, ipv6LinkLocal: false });
    const small = await h.getLink('brsmall');
    assert.deepEqual([small?.mtu, small?.up], [68, true]);
    await h.deleteLink('brsmall');
  });

  it('turns hairpin on for a bridge port', async () => {
    const show = () => inNs(H, ['bridge', '-d', 'link', 'show', 'dev', 'veth7a1b2c3']).stdout;
    assert.match(show(), /hairpin off/);
    await h.setBridgePort('veth7a1b2c3', { hairpin: true });
    assert.match(show(), /hairpin on/);
  });

  it('forgets the conntrack entries of one destination port, and only those', async () => {
    // Conntrack tracks a namespace's packets once a hook there uses it.
    const nft = inNs(H, [
      'nft',
      'add table ip ctt; add chain ip ctt in { type filter hook input priority 0; ct state new counter; }',
    ]);
    assert.equal(nft.status, 0, nft.stderr);
    const send = (port: number) =>
      inNs(C, [
        '/usr/bin/python3',
        '-c',
        `import socket; socket.socket(2, 2).sendto(b"x", ("10.77.0.1", ${port}))`,
      ]);
    for (const port of [9999, 9998]) assert.equal(send(port).status, 0);
    const ct = Conntrack.open({ netns: hPath });
    try {
      assert.equal(await ct.deleteByDestPort('udp', 9999), 1);
      assert.equal(await ct.deleteByDestPort('udp', 9999), 0);
      assert.equal(await ct.deleteByDestPort('tcp', 9998), 0);
      assert.equal(await ct.deleteByDestPort('udp', 9998), 1);
    } finally {
      ct.close();
    }
  });

  it('adds and deletes on-link routes and static neighbours, with typed errors', async () => {
    await withRtnl(cPath, async (c) => {
      const r = { dst: '198.51.100.0/24', gateway: '203.0.113.1', dev: 'eth0' };
      await rejectsWith(c.addRoute(r), 'ENETUNREACH');
      await c.addRoute({ ...r, onlink: true });
      await rejectsWith(c.addRoute({ ...r, onlink: true }), 'EEXIST');
      const added = (await c.listRoutes()).find((x) => x.dst === '198.51.100.0/24');
      assert.deepEqual([added?.gateway, added?.flags ? added.flags & 4 : 0], ['203.0.113.1', 4]);
      await c.deleteRoute(r);
      assert.ok(isNotFound(await rejectsWith(c.deleteRoute(r), 'ESRCH')));

      const n = { link: 'eth0', ip: '10.77.0.9', mac: '02:00:00:00:00:09' };
      await c.addNeighbour(n);
      assert.ok(isExists(await rejectsWith(c.addNeighbour(n), 'EEXIST')));
      await c.addNeighbour({ ...n, mac: '02:00:00:00:00:0a' }, { replace: true });
      const got = (await c.listNeighbours({ link: 'eth0' })).find((x) => x.ip === '10.77.0.9');
      assert.deepEqual([got?.mac, got?.state], ['02:00:00:00:00:0a', 0x80]);
      await c.deleteNeighbour(n);
      assert.ok(isNotFound(await rejectsWith(c.deleteNeighbour(n), 'ENOENT')));

      await c.deleteAddress('eth0', 'fd00:77::2/64');
      await rejectsWith(c.deleteAddress('eth0', 'fd00:77::2/64'), 'EADDRNOTAVAIL');
    });
  });

  it('creates a VXLAN device without learning, and manages its FDB', async () => {
    await h.createVxlan({ name: 'vx0', vni: 4242, local: '10.77.0.1', port: 4789, dev: 'br0' });
    const info = JSON.parse(inNs(H, ['ip', '-d', '-j', 'link', 'show', 'vx0']).stdout)[0];
    assert.equal(info.linkinfo.info_kind, 'vxlan');
    assert.deepEqual(
      [info.linkinfo.info_data.id, info.linkinfo.info_data.port, info.linkinfo.info_data.learning],
      [4242, 4789, false],
    );
    const flood = { link: 'vx0', mac: '00:00:00:00:00:00' };
    await h.addFdb({ ...flood, dst: '10.77.0.7' }, { append: true });
    await h.addFdb({ ...flood, dst: '10.77.0.8' }, { append: true });
    const remotes = (await h.listFdb({ link: 'vx0' })).map((f) => f.ip).sort();
    assert.deepEqual(remotes, ['10.77.0.7', '10.77.0.8']);
    await h.deleteFdb({ ...flood, dst: '10.77.0.8' });
    assert.deepEqual(
      (await h.listFdb({ link: 'vx0' })).map((f) => f.ip),
      ['10.77.0.7'],
    );
    await h.deleteFdb({ ...flood, dst: '10.77.0.7' });
    // (VXLAN answers ENOENT once the MAC has no remote left, not per remote.)
    await rejectsWith(h.deleteFdb({ ...flood, dst: '10.77.0.7' }), 'ENOENT');

    // Many changes in few datagrams, in order; deleting what is not there is fine.
    const vx = await h.index('vx0');
    const peers = Array.from({ length: 150 }, (_, i) => ({
      ip: `10.78.${i >> 8}.${i & 255}`,
      mac: `02:00:0a:4e:00:${i.toString(16).padStart(2, '0')}`,
      dst: `10.77.1.${i % 200}`,
    }));
    await h.changeNeighbours([
      { op: 'delete-neighbour', entry: { link: vx, ip: '10.78.9.9' } },
      ...peers.flatMap((p) => [
        { op: 'add-fdb' as const, entry: { link: vx, mac: p.mac, dst: p.dst }, append: true },
        { op: 'add-neighbour' as const, entry: { link: vx, ip: p.ip, mac: p.mac }, replace: true },
      ]),
      // The last one removed again in the same batch, after its adds.
      { op: 'delete-neighbour', entry: { link: vx, ip: peers[149]!.ip } },
      { op: 'delete-fdb', entry: { link: vx, mac: peers[149]!.mac, dst: peers[149]!.dst } },
    ]);
    const fdb = (await h.listFdb({ link: 'vx0' })).filter((f) => f.ip);
    const neigh = await h.listNeighbours({ link: 'vx0', family: 4 });
    assert.equal(fdb.length, 149);
    assert.equal(neigh.length, 149);
    assert.deepEqual(
      new Set(neigh.map((n) => `${n.ip} ${n.mac}`)),
      new Set(peers.slice(0, 149).map((p) => `${p.ip} ${p.mac}`)),
    );
    // A link that is not there is an error, not an absent entry.
    await rejectsWith(
      h.changeNeighbours([{ op: 'delete-neighbour', entry: { link: 999_999, ip: '10.78.0.1' } }]),
      'ENODEV',
    );
    await h.deleteLink('vx0');
  });

  it('reports EEXIST for an existing link and ENODEV for a missing one', async () => {
    const dup = await rejectsWith(h.createBridge({ name: 'br0' }), 'EEXIST');
    assert.equal(dup.errno, 17);
    assert.ok(isExists(dup));
    // The kernel says ENODEV, not ENOENT, for a link; isNotFound covers both.
    const missing = await rejectsWith(h.deleteLink('nosuch0'), 'ENODEV');
    assert.ok(isNotFound(missing));
    assert.equal(await deleteLinkIfExists(h, 'nosuch0'), false);
    assert.equal(await h.getLink('nosuch0'), undefined);
    // A namespace path that is missing, or not a namespace: refused before any switch.
    assert.throws(() => Rtnl.open({ netns: `/run/netns/${prefix}-none` }), { code: 'ENOENT' });
    assert.throws(() => Rtnl.open({ netns: '/proc/self/stat' }), { code: 'EINVAL' });
  });

  it('writes sysctls inside a namespace, never the machine’s', () => {
    writeSysctl('net.ipv4.ip_forward', 1, hPath);
    assert.equal(readSysctl('net.ipv4.ip_forward', hPath), '1');
    assert.equal(readSysctl('net.ipv4.ip_forward', cPath), '0');
    writeSysctl('net/ipv4/conf/eth0/arp_ignore', 1, cPath);
    assert.equal(inNs(C, ['cat', '/proc/sys/net/ipv4/conf/eth0/arp_ignore']).stdout.trim(), '1');
    assert.equal(readSysctl('net.ipv4.ip_forward'), forwardBefore);
  });

  it('creates a veth with the queues asked for on both ends', async () => {
    await h.createVeth({ name: 'vethq', queues: 1, peer: { name: 'vethqp' } });
    for (const dev of ['vethq', 'vethqp']) {
      assert.match(
        inNs(H, ['ip', '-d', 'link', 'show', dev]).stdout,
        /numtxqueues 1 numrxqueues 1 /,
      );
    }
    await h.deleteLink('vethq');
  });

  it('deletes a device group in one request, and only it', async () => {
    for (const n of ['grp1', 'grp2', 'nogrp']) await h.createBridge({ name: n });
    for (const n of ['grp1', 'grp2']) await h.setLink(n, { group: 77 });
    assert.equal((await h.getLink('grp1'))?.group, 77);
    await h.deleteGroup(77);
    assert.deepEqual(
      (await h.listLinks({ kind: 'bridge' })).map((l) => l.name).filter((n) => n !== 'br0'),
      ['nogrp'],
    );
    await rejectsWith(h.deleteGroup(77), 'ENODEV');
    await h.deleteLink('nogrp');
  });

  it('reaps doomed links once the daemon is idle, or after a second of being busy', async () => {
    const reaper = new LinkReaper(h, (e) => assert.fail(String(e)));
    for (const n of ['doom1', 'doom2', 'keep1']) await h.createBridge({ name: n });
    for (const n of ['doom1', 'doom2']) await h.setLink(n, { group: DOOMED_GROUP });
    reaper.doomed();
    const names = async () => (await h.listLinks({ kind: 'bridge' })).map((l) => l.name);
    const start = Date.now();
    while (Date.now() - start < 1500 && (await names()).includes('doom1')) {
      reaper.busy();
      await sleep(20);
      if (Date.now() - start < 500)
        assert.ok((await names()).includes('doom1'), 'deleted while busy');
    }
    const waited = Date.now() - start;
    assert.ok(waited >= 900 && waited < 1500, `deleted after ${waited} ms of activity`);
    assert.deepEqual(
      (await names()).filter((n) => n !== 'br0'),
      ['keep1'],
    );
    // Idle: gone within the idle delay.
    await h.setLink('keep1', { group: DOOMED_GROUP });
    reaper.doomed();
    await sleep(250);
    assert.deepEqual(
      (await names()).filter((n) => n !== 'br0'),
      [],
    );
    await reaper.flush(); // nothing left: not an error
  });

  it('keeps reaping when the kernel refuses to delete the group (a link in it cannot go)', async () => {
    const errors: string[] = [];
    const reaper = new LinkReaper(h, (e) => errors.push(String(e)));
    const names = async () =>
      (await h.listLinks({ kind: 'bridge' })).map((l) => l.name).filter((n) => n !== 'br0');
    try {
      // The loopback has no delete operation: with it in the group, the
      // kernel refuses the group delete as a whole.
      await h.setLink('lo', { group: DOOMED_GROUP });
      await rejectsWith(h.deleteGroup(DOOMED_GROUP), 'EOPNOTSUPP');
      for (const n of ['doomA', 'doomB']) {
        await h.createBridge({ name: n });
        await h.setLink(n, { group: DOOMED_GROUP });
      }
      await reaper.flush(); // what a daemon start does: it must not fail
      assert.deepEqual(await names(), []);
      const lo = await h.getLink('lo');
      assert.ok(lo, 'the loopback is gone');
      assert.equal(lo?.group ?? 0, 0, 'the loopback was left in the group');
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.match(errors[0]!, /lo cannot be deleted/);
      // Links removed later are deleted as before, together.
      for (const n of ['doomC', 'doomD']) {
        await h.createBridge({ name: n });
        await h.setLink(n, { group: DOOMED_GROUP });
      }
      reaper.doomed();
      const start = Date.now();
      while ((await names()).length && Date.now() - start < 1500) await sleep(20);
      assert.deepEqual(await names(), []);
      assert.equal(errors.length, 1, errors.join('\n'));
    } finally {
      await h.setLink('lo', { group: 0 });
      for (const n of ['doomA', 'doomB', 'doomC', 'doomD']) await deleteLinkIfExists(h, n);
    }
  });

  it('deletes links off the main thread, leaving no thread in a foreign namespace', async () => {
    let turns = 0;
    let spinning = true;
    const spin = (): void => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    const deleting = h.deleteLink('veth7a1b2c3');
    assertAllThreadsHome(); // the worker thread sending it included
    await deleting;
    spinning = false;
    assert.ok(turns > 0, 'the event loop was blocked while the kernel deleted the link');
    const left = await withRtnl(cPath, (c) => c.listLinks());
    assert.deepEqual(
      left.map((l) => l.name),
      ['lo'],
      'the peer went with its pair',
    );
    await h.deleteLink('br0');
    assert.deepEqual(
      (await h.listLinks()).map((l) => l.name),
      ['lo'],
    );
  });
});
