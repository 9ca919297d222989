// A host that dies or is cut off, and comes back (issue 13 items 4 and 9;
// decision 0024). Two lab hosts, one etcd member on host 1 (so host 2 can
// be cut off while the store lives), a short discovery.ttl. A SIGKILLed
// berthd's endpoint stays in etcd, and on host 1's data plane, while its
// lease lives; after the TTL its endpoint, its address and host 1's FDB and
// neighbour entries are gone; the restarted berthd puts its still-running
// container's endpoint back with the same address, once. If another
// container took the address meanwhile, the returning container leaves the
// network instead (logged, a disconnect event): never one address twice. A
// host cut off from the underlay and etcd for longer than the TTL converges
// when it returns. Checked with the docker CLI, etcdctl, bridge and ip, as a
// user would. Needs root.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Lab, type LabDaemon } from '../../src/lab/lab.js';
import { which } from '../../src/lab/proc.js';

const isRoot = process.getuid?.() === 0;
const ready = isRoot && !!which('etcd') && !!which('etcdctl');
const TTL_S = 3;
const TTL = [
  '--cluster-store-opt',
  `discovery.ttl=${TTL_S}`,
  '--cluster-store-opt',
  'discovery.heartbeat=1',
];
const H1 = '192.168.205.10';
const H2 = '192.168.205.11';
/** Docker's MAC of an IPv4 address: 02:42 and the address. */
const macOf = (ip: string): string =>
  `02:42:${ip
    .split('.')
    .map((b) => Number(b).toString(16).padStart(2, '0'))
    .join(':')}`;

describe(
  "a cluster's faults: dead hosts and hosts coming back",
  { skip: !ready && 'needs root, etcd and etcdctl' },
  () => {
    let lab: Lab;
    const daemons: LabDaemon[] = [];
    let d1: LabDaemon;
    let d2: LabDaemon;
    let netId = '';

    const start = async (h: number) => {
      const d = await lab.startDaemon(h, {
        args: [...lab.clusterArgs(h), ...TTL],
        timeoutMs: 30_000,
      });
      daemons.push(d);
      return d;
    };
    const docker = (d: LabDaemon, args: string[]) => {
      const r = spawnSync('docker', args, { encoding: 'utf8', env: { ...process.env, ...d.env } });
      return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
    };
    /** A daemon's log lines that are not requests. */
    const notable = (d: LabDaemon) =>
      d
        .logTail(400)
        .split('\n')
        .filter((l) => !/level=debug/.test(l))
        .slice(-25)
        .join('\n');
    const until = async (what: string, ok: () => boolean, ms: number): Promise<number> => {
      const t0 = Date.now();
      while (!ok()) {
        if (Date.now() - t0 > ms) {
          const planes = netId
            ? `\nhost 1's vxlan0: ${JSON.stringify(dataPlane(d1))}\nhost 2's: ${JSON.stringify(dataPlane(d2))}\netcd: ${JSON.stringify(endpoints())}`
            : '';
          assert.fail(
            `${what}: not within ${ms} ms${planes}\nhost 1:\n${notable(d1)}\nhost 2:\n${notable(d2)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return Date.now() - t0;
    };
    /** Keys and values under a prefix of /berth/, as etcdctl lists them. */
    const etcd = (prefix: string): Record<string, string> => {
      const r = lab.etcdctl(1, ['get', '--prefix', `/berth/${prefix}`]);
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.split('\n').filter(Boolean);
      const out: Record<string, string> = {};
      for (let i = 0; i + 1 < lines.length; i += 2) out[lines[i]!] = lines[i + 1]!;
      return out;
    };
    /** The overlay's endpoints in etcd: IP → { Id, Node }. */
    const endpoints = () =>
      Object.fromEntries(
        Object.values(etcd(`endpoints/${netId}/`)).map((v) => {
          const e = JSON.parse(v) as { Id: string; IPv4: string; Node: string };
          return [e.IPv4, { Id: e.Id, Node: e.Node }];
        }),
      );
    /** The global IPAM's address keys of the overlay's subnet: IP → owner. */
    const addresses = () =>
      Object.fromEntries(
        Object.entries(etcd('ipam/global/addrs/10.10.0.0/24/')).map(([k, v]) => [
          k.split('/').pop()!,
          (JSON.parse(v) as { owner: string }).owner,
        ]),
      );
    /** A host's FDB and neighbour entries on the overlay's vxlan0. */
    const dataPlane = (d: LabDaemon) => {
      const ns = `--net=${join(d.execRoot, 'overlay', `ov-${netId.slice(0, 12)}`)}`;
      const run = (argv: string[]) => spawnSync('nsenter', [ns, ...argv], { encoding: 'utf8' });
      return {
        fdb: run(['bridge', 'fdb', 'show', 'dev', 'vxlan0']).stdout,
        neigh: run(['ip', 'neigh', 'show', 'dev', 'vxlan0']).stdout,
      };
    };
    const programs = (d: LabDaemon, ip: string, mac: string, vtep: string): boolean => {
      const p = dataPlane(d);
      return (
        new RegExp(`^${mac} dst ${vtep.replace(/\./g, '\\.')}`, 'm').test(p.fdb) &&
        new RegExp(`^${ip.replace(/\./g, '\\.')} lladdr ${mac}`, 'm').test(p.neigh)
      );
    };
    const forgets = (d: LabDaemon, ip: string, mac: string): boolean => {
      const p = dataPlane(d);
      return (
        !p.fdb.includes(mac) && !new RegExp(`^${ip.replace(/\./g, '\\.')} `, 'm').test(p.neigh)
      );
    };
    const ping = (d: LabDaemon, from: string, to: string) =>
      docker(d, ['exec', from, 'ping', '-c1', '-W2', to]);
    const run = (d: LabDaemon, name: string, extra: string[] = []) => {
      const r = docker(d, [
        'run',
        '-d',
        '--name',
        name,
        '--network',
        'ovf',
        ...extra,
        'busybox',
        'sleep',
        '3600',
      ]);
      assert.equal(r.status, 0, r.err);
    };
    const ipOf = (d: LabDaemon, name: string): string | undefined =>
      JSON.parse(docker(d, ['inspect', name]).out)[0].NetworkSettings.Networks.ovf?.IPAddress;
    const restart2 = async () => {
      d2 = await start(2);
    };
    /** Cuts host 2's only cable (its port on the underlay switch), or plugs it back. */
    const cable = (up: boolean) => {
      const r = spawnSync(
        'ip',
        ['-n', `${lab.name}-u`, 'link', 'set', `${lab.name}-h2`, up ? 'up' : 'down'],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
    };

    before(async () => {
      lab = await Lab.create({
        name: `cf${randomBytes(2).toString('hex')}`,
        hosts: 2,
        cluster: true,
        etcdMembers: 1,
      });
      d1 = await start(1);
      d2 = await start(2);
      const made = docker(d1, [
        'network',
        'create',
        '-d',
        'overlay',
        '--subnet',
        '10.10.0.0/24',
        'ovf',
      ]);
      assert.equal(made.status, 0, made.err);
      netId = made.out;
      await until(
        'ovf on host 2',
        () => docker(d2, ['network', 'inspect', 'ovf']).status === 0,
        5000,
      );
      run(d1, 'c1');
      run(d2, 'c2');
      assert.equal(ipOf(d1, 'c1'), '10.10.0.2');
      assert.equal(ipOf(d2, 'c2'), '10.10.0.3');
      const p = ping(d1, 'c1', '10.10.0.3');
      assert.equal(p.status, 0, p.out + p.err);
    });
    after(async () => {
      if (lab) cable(true);
      for (const d of daemons) await d.stop('SIGKILL').catch(() => undefined);
      await lab?.destroy();
    });

    const C2_MAC = macOf('10.10.0.3');

    it("keeps a SIGKILLed host's endpoint while its lease lives, then removes it, its address and host 1's entries", async () => {
      const before = endpoints()['10.10.0.3'];
      assert.equal(before?.Node, `${H2}:2375`);
      assert.equal(addresses()['10.10.0.3'], before.Id);
      assert.ok(programs(d1, '10.10.0.3', C2_MAC, H2), 'host 1 programs c2');
      const killed = Date.now();
      await d2.stop('SIGKILL');
      // While the lease lives: all of it stays, and c2 still answers.
      assert.ok(endpoints()['10.10.0.3'], 'in etcd right after the kill');
      assert.ok(programs(d1, '10.10.0.3', C2_MAC, H2));
      const p = ping(d1, 'c1', '10.10.0.3');
      assert.equal(p.status, 0, p.out + p.err);
      await until('c2 reaped from etcd', () => !endpoints()['10.10.0.3'], 15_000);
      const after = Date.now() - killed;
      assert.ok(after >= 1000, `by the lease's expiry, not at once (${after} ms)`);
      assert.equal(
        addresses()['10.10.0.3'],
        `reaped:${before.Id}@${H2}:2375`,
        'its address is kept for it, out of automatic allocation (decision 0024)',
      );
      assert.equal(addresses()['10.10.0.2'], endpoints()['10.10.0.2']?.Id, "c1's stays");
      await until(
        "c2 gone from host 1's FDB and neighbours",
        () => forgets(d1, '10.10.0.3', C2_MAC),
        3000,
      );
      assert.ok(
        programs(d2, '10.10.0.2', macOf('10.10.0.2'), H1),
        "host 2's data plane is left as it was",
      );
    });

    it('puts the still-running container back with the same address when berthd restarts, once', async () => {
      const was = addresses();
      await restart2();
      assert.match(docker(d2, ['ps', '--format', '{{.Names}}']).out, /^c2$/m);
      await until('c2 back in etcd', () => endpoints()['10.10.0.3']?.Node === `${H2}:2375`, 10_000);
      assert.equal(Object.keys(endpoints()).length, 2, JSON.stringify(endpoints()));
      assert.equal(Object.keys(etcd(`endpoints/`)).length, 2, 'no duplicate keys');
      const owner = addresses()['10.10.0.3'];
      assert.equal(owner, endpoints()['10.10.0.3']!.Id);
      assert.match(was['10.10.0.3'] ?? '', /^reaped:/);
      assert.deepEqual(Object.keys(addresses()).sort(), Object.keys(was).sort());
      assert.equal(ipOf(d2, 'c2'), '10.10.0.3');
      await until('host 1 programs c2 again', () => programs(d1, '10.10.0.3', C2_MAC, H2), 3000);
      const p = ping(d1, 'c1', '10.10.0.3');
      assert.equal(p.status, 0, p.out + p.err);
    });

    it('takes the returning container off the network when its address was given away meanwhile', async () => {
      await d2.stop('SIGKILL');
      await until('c2 reaped', () => !endpoints()['10.10.0.3'], 15_000);
      run(d1, 'thief', ['--ip', '10.10.0.3']);
      const thief = endpoints()['10.10.0.3'];
      assert.equal(thief?.Node, `${H1}:2375`);
      const since = Math.floor(Date.now() / 1000);
      await restart2();
      await until('c2 off ovf', () => ipOf(d2, 'c2') === undefined, 10_000);
      assert.deepEqual(endpoints()['10.10.0.3'], thief, 'the address stays the thief’s');
      assert.equal(addresses()['10.10.0.3'], thief.Id);
      assert.equal(Object.keys(etcd('endpoints/')).length, 2, 'c1 and the thief, nothing of c2');
      const addrs = docker(d2, ['exec', 'c2', 'ip', '-o', '-4', 'addr']).out;
      assert.doesNotMatch(addrs, /10\.10\.0\.3/, 'c2 no longer has the address');
      const ev = docker(d2, [
        'events',
        '--since',
        String(since),
        '--until',
        String(Math.floor(Date.now() / 1000) + 1),
        '--filter',
        'type=network',
        '--format',
        '{{.Action}} {{.Actor.Attributes.name}}',
      ]);
      assert.match(ev.out, /^disconnect ovf$/m, ev.out + ev.err);
      assert.match(d2.logTail(200), /10\.10\.0\.3 was given to another endpoint/);
      // The thief is the one that answers there now, from host 1's own bridge.
      const p = ping(d1, 'c1', '10.10.0.3');
      assert.equal(p.status, 0, p.out + p.err);
    });

    it('converges when a host cut off from the underlay and etcd for longer than the TTL returns', async () => {
      run(d2, 'c3');
      const ip3 = ipOf(d2, 'c3')!;
      const mac3 = macOf(ip3);
      await until('host 1 programs c3', () => programs(d1, ip3, mac3, H2), 3000);
      assert.ok(programs(d2, '10.10.0.3', macOf('10.10.0.3'), H1), 'host 2 programs the thief');
      cable(false);
      const cut = Date.now();
      await until('c3 reaped while host 2 is away', () => !endpoints()[ip3], 20_000);
      await until("host 1's entries for c3 gone", () => forgets(d1, ip3, mac3), 3000);
      // Meanwhile on host 1: the thief goes, c4 comes (at an address of its own).
      assert.equal(docker(d1, ['rm', '-f', 'thief']).status, 0);
      run(d1, 'c4', ['--ip', '10.10.0.20']);
      // An automatic address never is c3's while c3 may still hold it.
      run(d1, 'c5');
      assert.notEqual(ipOf(d1, 'c5'), ip3, "c3's address is kept while host 2 is away");
      assert.equal(docker(d1, ['rm', '-f', 'c5']).status, 0);
      const away = Date.now() - cut;
      cable(true);
      await until('c3 back in etcd', () => endpoints()[ip3]?.Node === `${H2}:2375`, 60_000);
      await until(
        'host 2 drops the thief and programs c4',
        () =>
          forgets(d2, '10.10.0.3', macOf('10.10.0.3')) &&
          programs(d2, '10.10.0.20', macOf('10.10.0.20'), H1),
        10_000,
      );
      await until('host 1 programs c3 again', () => programs(d1, ip3, mac3, H2), 5000);
      assert.equal(ipOf(d2, 'c3'), ip3, `same address after ${away} ms away`);
      const p = ping(d2, 'c3', '10.10.0.20');
      assert.equal(p.status, 0, p.out + p.err);
      const q = ping(d1, 'c4', ip3);
      assert.equal(q.status, 0, q.out + q.err);
      const eps = endpoints();
      assert.deepEqual(Object.keys(eps).sort(), ['10.10.0.2', '10.10.0.20', ip3].sort());
      assert.equal(Object.keys(etcd('endpoints/')).length, 3, 'no duplicate keys');
      const owners = Object.entries(addresses()).filter(([, o]) => o !== 'gateway');
      assert.deepEqual(
        owners.sort(),
        Object.entries(eps)
          .map(([ip, e]) => [ip, e.Id])
          .sort(),
        "every taken address is one live endpoint's, and each only once",
      );
    });

    it('keeps the endpoints of a berthd restarted while its host is cut off, and puts them back when the store answers', async () => {
      const ip3 = ipOf(d2, 'c3')!;
      cable(false);
      await d2.stop('SIGKILL');
      // The store is out of reach: the overlay is not known yet when the
      // daemon reconciles at start, and its endpoint must not be dropped.
      await restart2();
      assert.equal(ipOf(d2, 'c3'), ip3);
      await until('c3 reaped while host 2 is away', () => !endpoints()[ip3], 20_000);
      cable(true);
      await until('c3 back in etcd', () => endpoints()[ip3]?.Node === `${H2}:2375`, 60_000);
      await until('host 1 programs c3 again', () => programs(d1, ip3, macOf(ip3), H2), 5000);
      assert.equal(ipOf(d2, 'c3'), ip3);
      const p = ping(d1, 'c4', ip3);
      assert.equal(p.status, 0, p.out + p.err);
      assert.equal(Object.keys(etcd('endpoints/')).length, 3, 'no duplicate keys');
    });

    it('leaves the node to its lease on a clean stop while containers keep overlay endpoints', async () => {
      const ip3 = ipOf(d2, 'c3')!;
      await d2.stop('SIGTERM');
      assert.ok(etcd('nodes/')[`/berth/nodes/${H2}:2375`], 'not revoked: still listed');
      assert.ok(endpoints()[ip3], 'its endpoint stays meanwhile');
      const p = ping(d1, 'c4', ip3);
      assert.equal(p.status, 0, `the containers keep talking: ${p.out}${p.err}`);
      await until('gone with its lease', () => !etcd('nodes/')[`/berth/nodes/${H2}:2375`], 10_000);
      await until('c3 reaped', () => !endpoints()[ip3], 5000);
      await restart2();
      await until('c3 back in etcd', () => endpoints()[ip3]?.Node === `${H2}:2375`, 10_000);
      await until('host 1 programs c3 again', () => programs(d1, ip3, macOf(ip3), H2), 5000);
      const q = ping(d1, 'c4', ip3);
      assert.equal(q.status, 0, q.out + q.err);
    });
  },
);
