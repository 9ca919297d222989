/**
 * The main job (make demo) runs the walkthrough in its own lab. Besides the
 * demo's own verdicts, this test reads what each scenario printed and checks
 * the seed's observable results itself: the addresses, MACs, names, pings,
 * NAT and published ports a reader of the seed would look at.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { REPO } from '../helpers/lab-daemon.js';

interface Shown {
  /** The command as printed ("berth exec test1 ip a", "[world] curl ..."). */
  cmd: string;
  /** What it printed. */
  out: string;
}

/** Splits the transcript into commands and their output. */
function transcript(stdout: string): Shown[] {
  const out: Shown[] = [];
  let cur: Shown | undefined;
  for (const line of stdout.split('\n')) {
    const m = /^(?:\[([\w-]+)\] )?\$ (.*)$/.exec(line);
    if (m) {
      cur = {
        cmd: m[1] ? `[${/^(world|node\d)$/.test(m[1]) ? m[1] : 'host'}] ${m[2]}` : (m[2] ?? ''),
        out: '',
      };
      out.push(cur);
    } else if (/^[✔✘] S\d+/.test(line) || line === 'Summary') {
      cur = undefined;
    } else if (cur) {
      cur.out += line + '\n';
    }
  }
  return out;
}

describe('make demo', () => {
  let stdout = '';
  let shown: Shown[] = [];
  /** The output of the one command `cmd` matches (the n-th match, 0-based). */
  const of = (cmd: RegExp, n = 0): string => {
    const hits = shown.filter((s) => cmd.test(s.cmd));
    const hit = hits[n];
    assert.ok(hit, `no command matching ${cmd} (#${n}) in the transcript`);
    return hit.out;
  };
  const lossless = (out: string) => assert.match(out, / 0% packet loss/, out);

  before(() => {
    // The bound for the whole walkthrough is two minutes.
    const r = spawnSync(process.execPath, [`${REPO}dist/src/lab/demo.js`], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    stdout = r.stdout;
    assert.equal(r.status, 0, r.stdout.slice(-3000) + r.stderr);
    shown = transcript(stdout);
  });

  it('reports every scenario it covers passed and removes its lab', () => {
    const m = /^(\d+) passed, (\d+) failed/m.exec(stdout);
    assert.ok(m, stdout.slice(-2000));
    assert.equal(m[2], '0');
    for (let s = 1; s <= 23; s++) {
      assert.match(stdout, new RegExp(`✔ S${s}\\b`), `S${s} in the summary`);
    }
    assert.match(stdout, /labs removed/);
  });

  it('S1-S3: the built-in networks, a running container, the default bridge inspected', () => {
    const ls = of(/^berth network ls$/);
    assert.match(ls, /^\w{12}\s+bridge\s+bridge\s+local$/m);
    assert.match(ls, /^\w{12}\s+host\s+host\s+local$/m);
    assert.match(ls, /^\w{12}\s+none\s+null\s+local$/m);
    assert.match(
      of(/^berth ps$/),
      /^\w{12}\s+busybox\s+"\/bin\/sh -c 'while t…"\s+.*\s+Up .*test1$/m,
    );
    assert.match(
      of(/^berth exec test1 ps$/),
      /^\s+1 root\s+\/bin\/sh -c while true; do sleep 3600; done$/m,
    );
    const [bridge] = JSON.parse(of(/^berth network inspect bridge$/)) as Array<{
      IPAM: { Config: Array<{ Subnet: string; Gateway: string }> };
      Containers: Record<string, { Name: string; MacAddress: string; IPv4Address: string }>;
    }>;
    assert.deepEqual(bridge!.IPAM.Config, [{ Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }]);
    const byName = Object.fromEntries(Object.values(bridge!.Containers).map((c) => [c.Name, c]));
    assert.equal(byName.test1?.IPv4Address, '172.17.0.2/16');
    assert.equal(byName.test1?.MacAddress, '02:42:ac:11:00:02');
    assert.equal(byName.test2?.IPv4Address, '172.17.0.3/16');
    assert.equal(byName.test2?.MacAddress, '02:42:ac:11:00:03');
  });

  it('S4-S6: berth0 and the veths on the host, eth0 inside, pings on the bridge and out', () => {
    const host = of(/^\[host\] ip a$|^ip a {3}# on the lab host/);
    assert.match(host, /^\d+: berth0: .*UP.*\n.*\n\s+inet 172\.17\.0\.1\/16 /m);
    assert.equal(host.match(/^\d+: veth\w+@if\d+: .* master berth0 state UP/gm)?.length, 2, host);
    const inside = of(/^berth exec test1 ip a$/);
    assert.match(
      inside,
      /^\d+: eth0@if\d+: .*\n\s+link\/ether 02:42:ac:11:00:02 .*\n\s+inet 172\.17\.0\.2\/16 /m,
    );
    assert.doesNotMatch(inside, /eth1/);
    lossless(of(/^berth exec test1 ping -c 2 172\.17\.0\.3$/));
    // One routed hop (the host) to the world, through NAT.
    const out = of(/^berth exec test1 ping -c 2 198\.51\.100\.1$/);
    lossless(out);
    assert.match(out, /ttl=63/);
  });

  it('S7: --link names one way only and sets the link environment', () => {
    const fwd = of(/^berth exec test5 ping -c 1 test1$/);
    assert.match(fwd, /^PING test1 \(172\.17\.0\.2\)/m);
    lossless(fwd);
    assert.match(of(/^berth exec test1 ping -c 1 test5$/), /bad address 'test5'/);
    assert.match(of(/^berth exec test5 sh -c 'env/), /^TEST1_NAME=\/test5\/test1$/m);
  });

  it('S8-S11: a user bridge, its next subnet, a second interface, names on it only', () => {
    assert.match(of(/^berth network ls$/, 1), /^\w{12}\s+my-bridge\s+bridge\s+local$/m);
    assert.equal(of(/^berth network inspect -f .*IPAM.* my-bridge$/).trim(), '172.18.0.0/16');
    assert.match(of(/^berth exec test3 ip a show eth0$/), /inet 172\.18\.0\.2\/16 /);
    assert.match(
      of(/^berth exec test2 ip a show eth1$/),
      /link\/ether 02:42:ac:12:00:03 .*\n\s+inet 172\.18\.0\.3\/16 /,
    );
    // The template ranges over the Containers map, in container ID order.
    const names = of(/^berth network inspect -f .*Containers.* my-bridge$/)
      .trim()
      .split(/\s+/);
    assert.deepEqual(names.sort(), ['test2', 'test3']);
    const a = of(/^berth exec test3 ping -c 1 test2$/);
    assert.match(a, /^PING test2 \(172\.18\.0\.3\)/m);
    lossless(a);
    const b = of(/^berth exec test2 ping -c 1 test3$/);
    assert.match(b, /^PING test3 \(172\.18\.0\.2\)/m);
    lossless(b);
    assert.match(of(/^berth exec test1 ping -c 1 test3$/), /bad address 'test3'/);
  });

  it('S12: a published port answers on the host and from the world, served by the container', () => {
    const id = of(/^berth run -d -p 8000:80 --name web1/)
      .trim()
      .slice(0, 12);
    assert.match(id, /^[0-9a-f]{12}$/);
    assert.equal(of(/^berth port web1$/).trim(), '80/tcp -> 0.0.0.0:8000');
    assert.equal(of(/^\[host\] curl -s http:\/\/127\.0\.0\.1:8000\/$/).trim(), `hello from ${id}`);
    assert.equal(
      of(/^\[world\] curl -s http:\/\/198\.51\.100\.11:8000\/$/).trim(),
      `hello from ${id}`,
    );
  });

  it('S13-S14: none has only lo; host shares the host interfaces and ports', () => {
    const none = of(/^berth exec test4 ip a$/);
    assert.match(none, /^1: lo:/m);
    assert.doesNotMatch(none, /^\d+: (?!lo:)/m);
    const [n] = JSON.parse(of(/^berth network inspect none$/)) as Array<{
      Containers: Record<string, { Name: string; MacAddress: string; IPv4Address: string }>;
    }>;
    const test4 = Object.values(n!.Containers).find((c) => c.Name === 'test4');
    assert.deepEqual([test4?.MacAddress, test4?.IPv4Address], ['', '']);
    assert.match(
      of(/^berth run --rm --network host busybox ip addr show eth0$/),
      /inet 198\.51\.100\.11\/24 /,
    );
    assert.match(
      of(/^berth run --rm --network host busybox nc -l -p 8080$/),
      /Address already in use/,
    );
  });

  it('S15: the flask app counts up across the host, the world and a user network', () => {
    assert.match(of(/^berth build -t flask-redis/), /^Successfully tagged flask-redis:latest$/m);
    const id = of(/^berth run -d --link redis --name flask-redis/)
      .trim()
      .slice(0, 12);
    const seen = (out: string) => {
      const m =
        /^Hello Container World! I have been seen (\d+) times and my hostname is (\w+)\.$/m.exec(
          out,
        );
      assert.ok(m, out);
      return [Number(m[1]), m[2]];
    };
    assert.deepEqual(seen(of(/^berth exec flask-redis python3/)), [1, id]);
    assert.deepEqual(seen(of(/^\[host\] curl -s 127\.0\.0\.1:5000$/)), [2, id]);
    assert.deepEqual(seen(of(/^\[world\] curl -s 198\.51\.100\.11:5000$/)), [3, id]);
    const id2 = of(/^berth run -d --name web2 --network app/)
      .trim()
      .slice(0, 12);
    assert.deepEqual(seen(of(/^\[host\] curl -s 127\.0\.0\.1:5001$/)), [1, id2]);
    assert.deepEqual(seen(of(/^\[world\] curl -s 198\.51\.100\.11:5001$/)), [2, id2]);
  });

  it('S16-S23: two hosts in etcd, one overlay, names and the app across, the way out', () => {
    const via = (from: number, to: number) =>
      `^\\[node${from}\\] berth -H tcp://192\\.168\\.205\\.1${to - 1}:2375 `;
    const cmd = (from: number, to: number, rest: string) => new RegExp(via(from, to) + rest);
    const health = of(/^\[node1\] etcdctl endpoint health$/);
    assert.match(health, /192\.168\.205\.10:2379 is healthy/);
    assert.match(health, /192\.168\.205\.11:2379 is healthy/);
    const info = JSON.parse(
      of(/^\[node2\] curl -s http:\/\/192\.168\.205\.10:2375\/v1\.41\/info$/),
    );
    assert.equal(info.ClusterStore, 'etcd://192.168.205.10:2379,192.168.205.11:2379');
    assert.equal(info.ClusterAdvertise, '192.168.205.10:2375');
    // S19: made on node1, listed on node2.
    assert.match(of(cmd(1, 2, 'network ls$')), /^\w{12}\s+demo\s+overlay\s+global$/m);
    assert.deepEqual(JSON.parse(of(cmd(1, 2, 'network inspect -f .*IPAM.* demo$'))), [
      { Subnet: '10.0.0.0/24', Gateway: '10.0.0.1' },
    ]);
    const keys = of(/^\[node1\] etcdctl get --prefix --keys-only \/berth\/$/);
    assert.match(keys, /^\/berth\/nodes\/192\.168\.205\.10:2375$/m);
    assert.match(keys, /^\/berth\/nodes\/192\.168\.205\.11:2375$/m);
    assert.match(keys, /^\/berth\/networks\/by-id\/[0-9a-f]{64}$/m);
    // S21: across hosts by address and by name.
    lossless(of(cmd(1, 1, 'exec c1 ping -c 2 10\\.0\\.0\\.3$')));
    const byName = of(cmd(2, 2, 'exec c2 ping -c 2 c1$'));
    lossless(byName);
    assert.match(byName, /^PING c1 \(10\.0\.0\.2\)/m);
    // S16: node1's VXLAN device, its entry for c2 at node2, and UDP 4789 from node2.
    assert.match(
      of(/^\[node1\] nsenter .* ip -d link show vxlan0$/),
      /vxlan id 256 .*dstport 4789/,
    );
    assert.match(
      of(/^\[node1\] nsenter .* bridge fdb show dev vxlan0$/),
      /^02:42:0a:00:00:03 dst 192\.168\.205\.11 /m,
    );
    const counted = of(/^\[node1\] nft list chain inet demo-s16 in$/);
    assert.ok(Number(/counter packets (\d+)/.exec(counted)?.[1]) >= 3, counted);
    // S22: the app on node2 counts in redis on node1.
    const web = of(cmd(1, 2, 'run -d --name web --network demo'))
      .trim()
      .slice(0, 12);
    const hits = shown
      .filter((s) => /^\[world\] curl -s http:\/\/192\.168\.205\.11:5000\/$/.test(s.cmd))
      .map((s) => s.out.trim());
    assert.deepEqual(
      hits,
      [1, 2].map(
        (n) => `Hello Container World! I have been seen ${n} times and my hostname is ${web}.`,
      ),
    );
    // S23: out through berth_gwbridge.
    assert.match(of(cmd(1, 1, 'exec c1 ip route$')), /^default via 172\.18\.0\.1 dev eth1/m);
    lossless(of(cmd(1, 1, 'exec c1 ping -c 1 203\\.0\\.113\\.1$')));
    assert.match(
      of(cmd(1, 1, 'network inspect .* berth_gwbridge$')),
      /gateway_[0-9a-f]{12} 172\.18\.0\.2\/16/,
    );
  });
});
