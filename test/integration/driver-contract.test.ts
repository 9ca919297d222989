// The driver contract: the same cases for every network driver Berth has
// (DRIVERS in src/network/controller.ts, so a driver added there is under
// contract with no line here), checked against the real kernel.
//
// - ensureNetwork and removeNetwork are idempotent, and removing (once the
//   reaper has run) gives the host back as it was, firewall included, and
//   the namespaces a driver keeps of its own under the exec root (overlay's);
// - join and leave: `ownNamespace` drivers put the endpoint in the sandbox's
//   namespace and leave it with only `lo` after leave; the others need no
//   namespace and change nothing; `addressed` drivers give the interface
//   exactly the addresses, MAC and default routes asked for (IPv6 where
//   `ipv6`, default routes where `gatewayRoute`), the others give it none;
//   leave is idempotent, and so is a leave after a failed attach;
// - a join that fails leaves nothing behind: an address that cannot be set,
//   a default route the driver cannot reach, and what its capabilities say
//   it cannot give (IPv6, a default route) are refused.
//
// A 'global' driver (overlay) gets its network as the cluster store makes
// it: Scope global, a VNI; and this host's VXLAN source address.
//
// Needs root. Run by node's test runner, this file makes a lab namespace and
// runs itself again inside it (nsenter --net, BERTH_DRIVER_CONTRACT_NETNS
// set): everything the drivers do — links, sysctls, the reaper's group
// delete — then lands in that namespace, never in the machine's own, which
// is compared before and after.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryFirewall } from '../../src/kernel/firewall/index.js';
import { Rtnl, readSysctl } from '../../src/kernel/netlink/index.js';
import { deleteNetns } from '../../src/kernel/netns/netns.js';
import { DRIVERS } from '../../src/network/controller.js';
import { LinkReaper } from '../../src/network/reaper.js';
import { newNetworkRecord } from '../../src/network/records.js';
import { Sandboxes } from '../../src/network/sandboxes.js';
import type {
  EndpointAddresses,
  Gateway,
  NetworkDriver,
  NetworkRecord,
  Sandbox,
} from '../../src/network/types.js';

const isRoot = process.getuid?.() === 0;
const LAB = process.env.BERTH_DRIVER_CONTRACT_NETNS;

function sh(argv: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 20_000 });
}

/** This process's environment for the run inside the lab, not as a file of the outer run. */
function childEnv(add: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...add };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

/** Namespaces bound under `dir` (nsfs mounts), from this process's mount table. */
function nsMounts(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[f.indexOf('-') + 1] === 'nsfs')
    .map((f) => f[4]!.replace(/\\040/g, ' '))
    .filter((m) => m.startsWith(`${dir}/`));
}

if (!LAB) {
  /** The machine's own links, routes and forwarding: the run must leave them alone. */
  const machine = () =>
    [
      sh(['ip', '-o', 'link']).stdout.replace(/\\.*$/gm, ''),
      sh(['ip', 'route']).stdout,
      sh(['ip', '-6', 'route']).stdout,
      readSysctl('net.ipv4.ip_forward'),
      readSysctl('net.ipv6.conf.all.forwarding'),
    ].join('\n');

  describe('network driver contract', { skip: !isRoot && 'needs root' }, () => {
    it('every driver passes it, inside a lab namespace', async () => {
      const before = machine();
      const ns = `dc${randomBytes(3).toString('hex')}`;
      const execRoot = mkdtempSync(join(tmpdir(), `berth-${ns}-`));
      assert.equal(sh(['ip', 'netns', 'add', ns]).status, 0);
      try {
        const r = spawnSync(
          'nsenter',
          [
            `--net=/run/netns/${ns}`,
            '--',
            process.execPath,
            '--test',
            '--test-reporter=spec',
            fileURLToPath(import.meta.url),
          ],
          {
            encoding: 'utf8',
            timeout: 120_000,
            env: childEnv({ BERTH_DRIVER_CONTRACT_NETNS: ns, BERTH_EXEC_ROOT: execRoot }),
          },
        );
        // The cases, one line each (stderr: the runner reads this file's stdout).
        process.stderr.write(r.stdout + r.stderr);
        assert.equal(r.status, 0, 'the contract failed inside the lab: its report is above');
      } finally {
        sh(['ip', 'netns', 'del', ns]);
        // Namespaces a failed run left (sandboxes, a driver's own): unbound before their files go.
        for (const m of nsMounts(execRoot)) await deleteNetns(m);
        try {
          for (const d of readdirSync(execRoot)) rmdirSync(join(execRoot, d));
          rmdirSync(execRoot);
        } catch (e) {
          process.stderr.write(`driver contract: ${execRoot} left: ${String(e)}\n`);
        }
      }
      assert.equal(machine(), before);
    });
  });
} else {
  // Inside the lab namespace: this process's namespace is the drivers' host.
  // Checked, whatever the environment says: never the machine's own.
  if (statSync('/proc/self/ns/net').ino !== statSync(`/run/netns/${LAB}`).ino) {
    throw new Error(`the driver contract runs only inside its lab namespace (${LAB})`);
  }
  const execRoot = process.env.BERTH_EXEC_ROOT ?? mkdtempSync(join(tmpdir(), 'berth-dc-'));
  const rtnl = Rtnl.open();
  const firewall = new MemoryFirewall();
  firewall.ensureBase();
  const reaper = new LinkReaper(Rtnl.open(), (e) => {
    throw e;
  });
  const sandboxes = new Sandboxes(execRoot, async () => []);
  after(async () => {
    await reaper.close();
    rtnl.close();
  });

  /** This host's address on the underlay: the VXLAN source address of a cluster's host. */
  const VTEP = '192.0.2.10';
  sh(['ip', 'link', 'add', 'underlay0', 'type', 'dummy']);
  sh(['ip', 'addr', 'add', `${VTEP}/24`, 'dev', 'underlay0']);
  sh(['ip', 'link', 'set', 'underlay0', 'up']);

  /** The drivers under contract: the daemon's own list, as in a cluster (so overlay too). */
  const drivers = DRIVERS({ rtnl, mtu: 1500, firewall, reaper, execRoot, vtep: VTEP });

  const GATEWAYS: Gateway[] = [
    { family: 4, address: '10.99.0.1', prefixLen: 24 },
    { family: 6, address: 'fd00:99::1', prefixLen: 64 },
  ];
  const ADDRS: EndpointAddresses = {
    ifName: 'eth0',
    ipv4: '10.99.0.2',
    prefixLen: 24,
    gateway: '10.99.0.1',
    ipv6: 'fd00:99::2',
    prefixLen6: 64,
    gateway6: 'fd00:99::1',
    mac: '02:42:0a:63:00:02',
    defaultRoute: true,
  };
  const NO_IPV6 = { ipv6: undefined, prefixLen6: undefined, gateway6: undefined };
  const ADDRS_V6 = { ipv6: ADDRS.ipv6, prefixLen6: ADDRS.prefixLen6, gateway6: ADDRS.gateway6 };

  /** The gateways a network of the driver has: no IPv6 one where its endpoints have no IPv6. */
  const gatewaysOf = (d: NetworkDriver): Gateway[] =>
    GATEWAYS.filter((g) => d.ipv6 || g.family === 4);
  /** Everything an endpoint can have, that the driver can give. */
  const addressesFor = (d: NetworkDriver): EndpointAddresses =>
    d.addressed
      ? { ...ADDRS, ...(d.ipv6 ? {} : NO_IPV6), defaultRoute: d.gatewayRoute }
      : { ifName: 'eth0', defaultRoute: true };

  /** What a namespace holds: links (up, kind, master, group, addresses) and routes. */
  async function state(rt: Rtnl): Promise<string[]> {
    const out: string[] = [];
    const links = await rt.listLinks();
    const name = new Map(links.map((l) => [l.index, l.name]));
    for (const l of links) {
      const addrs = (await rt.listAddresses({ link: l.index }))
        .map((a) => a.cidr)
        .filter((c) => !c.startsWith('fe80:'))
        .sort();
      out.push(
        `link ${l.name} ${l.kind ?? '-'} up=${l.up} master=${name.get(l.master ?? -1) ?? '-'} ` +
          `group=${l.group ?? 0} ${addrs.join(',')}`,
      );
    }
    for (const family of [4, 6] as const) {
      for (const r of await rt.listRoutes({ family })) {
        if (r.dst.startsWith('fe80:') || r.dst.startsWith('ff00:')) continue;
        out.push(`route ${r.dst} via ${r.gateway ?? '-'} dev ${name.get(r.oif ?? -1) ?? '-'}`);
      }
    }
    return out.sort();
  }

  /**
   * A sandbox's links but `lo`, and its routes. `lo` is left out: an IPv6
   * endpoint turns IPv6 on for it (::1), which stays for the sandbox's life.
   */
  async function sandboxState(sb: Sandbox): Promise<string[]> {
    return (await state(sb.netlink())).filter((l) => !l.startsWith('link lo '));
  }

  /**
   * The host namespace, Berth's firewall and the namespaces drivers keep of
   * their own under the exec root (not the sandboxes), once the reaper has
   * deleted what was given up.
   */
  async function host(): Promise<{ kernel: string[]; firewall: string; owned: string[] }> {
    await reaper.flush();
    const owned: string[] = [];
    for (const path of nsMounts(execRoot).sort()) {
      if (path.startsWith(join(execRoot, 'netns') + '/')) continue;
      const rt = Rtnl.open({ netns: path });
      try {
        owned.push(...(await state(rt)).map((l) => `${relative(execRoot, path)}: ${l}`));
      } finally {
        rt.close();
      }
    }
    return { kernel: await state(rtnl), firewall: JSON.stringify(firewall.dump()), owned };
  }

  let n = 0;
  /**
   * A user network's record on this driver, as network create makes it
   * (fresh ID, so a fresh bridge or namespace name); a global one as the
   * cluster store makes it, with a VXLAN ID of its own.
   */
  const network = (d: NetworkDriver): NetworkRecord => ({
    ...newNetworkRecord(`contract${++n}`, d.name),
    Scope: d.scope,
    EnableIPv6: d.ipv6,
    IPAM: {
      Driver: 'default',
      Options: null,
      Config: d.addressed
        ? gatewaysOf(d).map((g) => ({
            Subnet: g.family === 4 ? '10.99.0.0/24' : 'fd00:99::/64',
            Gateway: g.address,
          }))
        : [],
    },
    Options: {},
    berth: d.scope === 'global' ? { vni: 4096 + n } : { bridgeCreated: true },
  });

  /** A container's sandbox as the controller gives it: a namespace of its own, or none. */
  function sandbox(d: NetworkDriver): { sb: Sandbox; done: () => Promise<void> } {
    const id = randomBytes(32).toString('hex');
    const path = d.ownNamespace ? sandboxes.create(id) : undefined;
    return { sb: sandboxes.view(id, path), done: () => sandboxes.delete(id) };
  }

  for (const [name, driver] of Object.entries(drivers)) {
    describe(`driver ${name}`, () => {
      let net: NetworkRecord;
      const gateways = gatewaysOf(driver);
      const asked = addressesFor(driver);
      before(async () => {
        net = network(driver);
      });

      it('declares itself consistently', () => {
        assert.equal(driver.name, name);
        for (const flag of [
          driver.ownNamespace,
          driver.exclusive,
          driver.addressed,
          driver.ipv6,
          driver.gatewayRoute,
        ]) {
          assert.equal(typeof flag, 'boolean');
        }
        // Addresses go on an interface in the container's own namespace.
        if (driver.addressed) assert.ok(driver.ownNamespace);
        // IPv6 addresses and routes through a gateway are addresses' kinds.
        if (driver.ipv6 || driver.gatewayRoute) assert.ok(driver.addressed);
        // A network shared by hosts learns the other hosts' endpoints.
        assert.ok(['local', 'global'].includes(driver.scope));
        assert.equal(typeof driver.setPeers === 'function', driver.scope === 'global');
        assert.equal(typeof driver.changePeers === 'function', driver.scope === 'global');
      });

      it('makes a network idempotently and removes it idempotently, giving the host back', async () => {
        const empty = await host();
        await driver.ensureNetwork(net, gateways);
        const made = await host();
        // Where addresses live, a network has a kernel side, and it is seen here.
        if (driver.addressed) assert.notDeepEqual(made, empty);
        await driver.ensureNetwork(net, gateways);
        assert.deepEqual(await host(), made, 'a second ensureNetwork changes nothing');
        await driver.removeNetwork(net);
        assert.deepEqual(await host(), empty);
        await driver.removeNetwork(net);
        assert.deepEqual(await host(), empty, 'a second removeNetwork changes nothing');
        // Made again at once, it is as it was (nothing of the removed one in the way).
        await driver.ensureNetwork(net, gateways);
        assert.deepEqual(await host(), made, 'made again');
        await driver.removeNetwork(net);
        assert.deepEqual(await host(), empty);
        // One never made: nothing to do, no error.
        await driver.removeNetwork(network(driver));
        assert.deepEqual(await host(), empty);
      });

      it('joins a sandbox and leaves it as promised by ownNamespace and addressed', async () => {
        await driver.ensureNetwork(net, gateways);
        const withNetwork = await host();
        const { sb, done } = sandbox(driver);
        try {
          const inside = driver.ownNamespace ? await sandboxState(sb) : undefined;
          const info = await driver.join(net, sb, asked);
          if (driver.addressed) {
            assert.deepEqual(
              [info.ipv4, info.prefixLen, info.ipv6, info.ipv6PrefixLen, info.mac],
              [asked.ipv4, asked.prefixLen, asked.ipv6, asked.prefixLen6, asked.mac],
            );
            const rt = sb.netlink();
            const eth0 = await rt.getLink('eth0');
            assert.equal(eth0?.up, true);
            assert.equal(eth0?.mac, asked.mac);
            const addrs = (await rt.listAddresses({ link: 'eth0' })).map((a) => a.cidr);
            assert.deepEqual(
              addrs.filter((a) => !a.startsWith('fe80:')).sort(),
              driver.ipv6 ? ['10.99.0.2/24', 'fd00:99::2/64'] : ['10.99.0.2/24'],
            );
            const routes = (await state(rt)).filter((r) => r.startsWith('route default'));
            assert.deepEqual(
              routes,
              driver.gatewayRoute
                ? [
                    'route default via 10.99.0.1 dev eth0',
                    ...(driver.ipv6 ? ['route default via fd00:99::1 dev eth0'] : []),
                  ]
                : [],
            );
          } else {
            assert.deepEqual([info.ipv4, info.ipv6], [undefined, undefined]);
            if (inside)
              assert.deepEqual(
                await sandboxState(sb),
                inside,
                'the sandbox keeps only what it had',
              );
          }
          if (!driver.ownNamespace) {
            assert.equal(sb.netnsPath, undefined);
            assert.deepEqual(await host(), withNetwork, 'nothing in the host namespace');
          }
          await driver.leave(net, sb, info.hostIf, 'eth0');
          if (inside) {
            const eth0 = await sb.netlink().getLink('eth0');
            assert.ok(!eth0?.up, 'after leave the container has no usable interface');
          }
          await driver.leave(net, sb, info.hostIf, 'eth0');
          assert.deepEqual(await host(), withNetwork, 'leave gives the host back');
          if (inside) assert.deepEqual(await sandboxState(sb), inside, 'and the sandbox');
        } finally {
          await done();
          await driver.removeNetwork(net);
        }
      });

      it('joins without a default route when not asked for one', async () => {
        if (!driver.addressed) return;
        await driver.ensureNetwork(net, gateways);
        const { sb, done } = sandbox(driver);
        try {
          const info = await driver.join(net, sb, { ...asked, defaultRoute: false });
          const routes = await state(sb.netlink());
          assert.ok(!routes.some((r) => r.startsWith('route default')), routes.join('\n'));
          await driver.leave(net, sb, info.hostIf, 'eth0');
        } finally {
          await done();
          await driver.removeNetwork(net);
        }
      });

      it('a leave after an attach that failed before the driver changes nothing', async () => {
        await driver.ensureNetwork(net, gateways);
        const withNetwork = await host();
        const { sb, done } = sandbox(driver);
        try {
          await driver.leave(net, sb, undefined, undefined);
          await driver.leave(net, sb, undefined, 'eth0');
          assert.deepEqual(await host(), withNetwork);
        } finally {
          await done();
          await driver.removeNetwork(net);
        }
      });

      /** Joins an addressed driver must refuse, by what makes them fail. */
      const refused: [string, EndpointAddresses][] = [];
      if (driver.addressed) {
        // Fails once the interface exists: the driver must take it away.
        refused.push(['an address that cannot be set', { ...asked, prefixLen: 33 }]);
        // A default route through a gateway outside the subnet cannot be set.
        if (driver.gatewayRoute) {
          refused.push(['an unreachable default route', { ...asked, gateway: '10.250.0.1' }]);
        } else refused.push(['a default route', { ...asked, defaultRoute: true }]);
        if (!driver.ipv6) refused.push(['an IPv6 address', { ...asked, ...ADDRS_V6 }]);
      }
      for (const [what, bad] of refused) {
        it(`a join that fails leaves nothing behind: ${what}`, async () => {
          await driver.ensureNetwork(net, gateways);
          const withNetwork = await host();
          const { sb, done } = sandbox(driver);
          try {
            const inside = await sandboxState(sb);
            await assert.rejects(driver.join(net, sb, bad));
            assert.deepEqual(await host(), withNetwork);
            assert.deepEqual(await sandboxState(sb), inside);
          } finally {
            await done();
            await driver.removeNetwork(net);
          }
        });
      }

      it('a join that fails leaves nothing behind (a driver without addresses may not fail)', async () => {
        if (driver.addressed) return;
        await driver.ensureNetwork(net, gateways);
        const withNetwork = await host();
        const { sb, done } = sandbox(driver);
        try {
          const inside = driver.ownNamespace ? await sandboxState(sb) : undefined;
          const r = await driver
            .join(net, sb, { ifName: 'eth0', defaultRoute: true, gateway: '10.250.0.1' })
            .then(
              (info) => ({ info }),
              (error: unknown) => ({ error }),
            );
          // A driver that did not fail must undo it with leave, as any join.
          if ('info' in r) await driver.leave(net, sb, r.info.hostIf, 'eth0');
          assert.deepEqual(await host(), withNetwork);
          if (inside) assert.deepEqual(await sandboxState(sb), inside);
        } finally {
          await done();
          await driver.removeNetwork(net);
        }
      });
    });
  }
}
