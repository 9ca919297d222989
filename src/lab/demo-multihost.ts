/**
 * The walkthrough's multi-host part, S16–S23: a cluster lab of two hosts
 * (node1 192.168.205.10, node2 .11) with an etcd member in each and berthd
 * started as the seed's S18, each driven with `berth -H tcp://…` from the
 * other host as the seed does.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, type LabDaemon } from './lab.js';
import { Steps, bold, shown, typed } from './walk.js';

const BERTH = fileURLToPath(new URL('../../../bin/berth', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../examples/flask-redis', import.meta.url));
const LOOP = 'while true; do sleep 3600; done';
type Node = 1 | 2;

export async function multiHost(steps: Steps): Promise<void> {
  console.log(bold('Multi-host: a cluster lab (two hosts, an etcd member in each)...'));
  const lab = await Lab.create({ hosts: 2, cluster: true });
  try {
    const ip = (n: Node) => lab.hosts[n - 1]!.ip;
    const prompt = (n: Node | 'world') => (n === 'world' ? '[world] ' : `[node${n}] `);
    /** berth on node `from` against node `to`'s daemon over TCP. */
    const berth = (from: Node, to: Node, args: string[], check?: (o: string) => boolean) => {
      const argv = ['-H', `tcp://${ip(to)}:2375`, ...args];
      return shown(
        prompt(from),
        `berth ${typed(argv)}`,
        () => lab.exec(from, [BERTH, ...argv], { timeoutMs: 180_000 }),
        check,
      );
    };
    const at = (where: Node | 'world', argv: string[], check?: (o: string) => boolean) =>
      shown(prompt(where), typed(argv), () => lab.exec(where, argv), check);
    const lossless = (o: string) => / 0% packet loss/.test(o);

    // S17: the cluster store, one member per host.
    let ok = shown(
      prompt(1),
      'etcdctl endpoint health',
      () => lab.etcdctl(1, ['endpoint', 'health']),
      (o) => [1, 2].every((n) => o.includes(`${ip(n as Node)}:2379 is healthy`)),
    );
    steps.step('S17', 'an etcd member on each host, both healthy', ok);

    // S18: each daemon in the cluster, its API on TCP 2375.
    const daemons: LabDaemon[] = [];
    ok = true;
    for (const n of [1, 2] as const) {
      const args = [...lab.clusterArgs(n), '-H', `tcp://${ip(n)}:2375`, '--tls=false'];
      console.log(bold(`${prompt(n)}$ berthd ${typed(args)} &`));
      const d = await lab.startDaemon(n, { args, timeoutMs: 30_000 });
      daemons.push(d);
      console.log(`berthd pid ${d.pid}\n`);
    }
    ok = at(2, ['curl', '-s', `http://${ip(1)}:2375/v1.41/info`], (o) =>
      o.includes(`"ClusterAdvertise":"${ip(1)}:2375"`),
    );
    ok = berth(2, 1, ['info', '--format', '{{.Name}} {{.ServerVersion}}']) && ok;
    steps.step('S18', '--cluster-store etcd://… --cluster-advertise IP:2375, the API on TCP', ok);

    // S19: an overlay made on node1 is on node2 by itself.
    ok = berth(1, 1, ['network', 'create', '-d', 'overlay', 'demo']);
    ok = berth(1, 2, ['network', 'ls'], (o) => /demo\s+overlay\s+global/.test(o)) && ok;
    ok =
      berth(
        1,
        2,
        ['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'demo'],
        (o) => o.trim() === '[{"Subnet":"10.0.0.0/24","Gateway":"10.0.0.1"}]',
      ) && ok;
    steps.step(
      'S19',
      'network create -d overlay on node1 appears on node2: global, 10.0.0.0/24',
      ok,
    );

    // S20: the state in the store, as readable keys.
    ok = shown(
      prompt(1),
      'etcdctl get --prefix --keys-only /berth/',
      () => lab.etcdctl(1, ['get', '--prefix', '--keys-only', '/berth/']),
      (o) =>
        o.includes(`/berth/nodes/${ip(1)}:2375`) &&
        o.includes(`/berth/nodes/${ip(2)}:2375`) &&
        /\/berth\/networks\/by-id\/[0-9a-f]{64}/.test(o),
    );
    steps.step('S20', 'nodes and networks in etcd; addresses allocated there', ok);

    // S21: containers on both hosts ping each other by address and by name.
    ok = berth(1, 1, [
      'run',
      '-d',
      '--name',
      'c1',
      '--network',
      'demo',
      'busybox',
      'sh',
      '-c',
      LOOP,
    ]);
    ok =
      berth(2, 2, [
        'run',
        '-d',
        '--name',
        'c2',
        '--network',
        'demo',
        'busybox',
        'sh',
        '-c',
        LOOP,
      ]) && ok;
    ok = berth(1, 1, ['exec', 'c1', 'ping', '-c', '2', '10.0.0.3'], lossless) && ok;
    ok = berth(2, 2, ['exec', 'c2', 'ping', '-c', '2', 'c1'], lossless) && ok;
    steps.step('S21', 'c1 on node1 and c2 on node2 ping each other by address and name', ok);

    // S16: what carried it: VXLAN between the hosts' own addresses.
    const id = lab.exec(1, [
      BERTH,
      '-H',
      `tcp://${ip(1)}:2375`,
      'network',
      'inspect',
      '-f',
      '{{.Id}}',
      'demo',
    ]);
    const ns = join(daemons[0]!.execRoot, 'overlay', `ov-${id.stdout.trim().slice(0, 12)}`);
    ok = at(1, ['nsenter', `--net=${ns}`, 'ip', '-d', 'link', 'show', 'vxlan0'], (o) =>
      /vxlan id 256 .*dstport 4789/.test(o),
    );
    ok =
      at(1, ['nsenter', `--net=${ns}`, 'bridge', 'fdb', 'show', 'dev', 'vxlan0'], (o) =>
        o.includes(`02:42:0a:00:00:03 dst ${ip(2)}`),
      ) && ok;
    ok = vxlanCounted(lab, ip(2), () => berth(2, 2, ['exec', 'c2', 'ping', '-c', '3', 'c1'])) && ok;
    steps.step(
      'S16',
      "the overlay's frames go in VXLAN (UDP 4789) between 192.168.205.10 and .11",
      ok,
    );

    // S22: redis on node1, the app built and published on node2.
    ok = berth(2, 1, ['run', '-d', '--name', 'redis', '--network', 'demo', 'redis']);
    ok =
      berth(1, 2, ['build', '-t', 'flask-redis', EXAMPLE], (o) =>
        /Successfully tagged flask-redis:latest/.test(o),
      ) && ok;
    ok =
      berth(1, 2, [
        'run',
        '-d',
        '--name',
        'web',
        '--network',
        'demo',
        '-e',
        'REDIS_HOST=redis',
        '-p',
        '5000:5000',
        'flask-redis',
      ]) && ok;
    const url = `http://${ip(2)}:5000/`;
    for (let i = 0; i < 100; i++) {
      const probe = lab.exec('world', ['curl', '-s', '-m', '1', '-o', '/dev/null', `${url}x`]);
      if (probe.status === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const seen = (n: number) => (o: string) => o.includes(`I have been seen ${n} times`);
    ok = at('world', ['curl', '-s', url], seen(1)) && ok;
    ok = at('world', ['curl', '-s', url], seen(2)) && ok;
    steps.step(
      'S22',
      'redis on node1, the flask app on node2: the count goes up from the world',
      ok,
    );

    // S23: the way out: berth_gwbridge.
    ok = berth(1, 1, ['exec', 'c1', 'ip', 'route'], (o) =>
      /^default via 172\.18\.0\.1 dev eth1/m.test(o),
    );
    ok = berth(1, 1, ['exec', 'c1', 'ping', '-c', '1', lab.world.internetIp], lossless) && ok;
    ok =
      berth(
        1,
        1,
        [
          'network',
          'inspect',
          '-f',
          '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}',
          'berth_gwbridge',
        ],
        (o) => /gateway_[0-9a-f]{12} 172\.18\.0\.\d+\/16/.test(o),
      ) && ok;
    steps.step('S23', 'overlay containers go out (and publish) through berth_gwbridge', ok);

    berth(1, 1, ['rm', '-f', 'c1', 'redis']);
    berth(2, 2, ['rm', '-f', 'c2', 'web']);
    berth(2, 2, ['network', 'rm', 'demo']);
  } finally {
    await lab.destroy();
  }
}

/** Runs `traffic` and shows that node1 received UDP 4789 from `from` meanwhile (an nft counter). */
function vxlanCounted(lab: Lab, from: string, traffic: () => boolean): boolean {
  const nft = (args: string[]) => lab.exec(1, ['nft', ...args]);
  nft(['add', 'table', 'inet', 'demo-s16']);
  try {
    nft(['add', 'chain', 'inet', 'demo-s16', 'in', '{ type filter hook input priority 0 ; }']);
    nft([
      'add',
      'rule',
      'inet',
      'demo-s16',
      'in',
      'ip',
      'saddr',
      from,
      'udp',
      'dport',
      '4789',
      'counter',
    ]);
    const ok = traffic();
    return (
      shown(
        '[node1] ',
        'nft list chain inet demo-s16 in',
        () => nft(['list', 'chain', 'inet', 'demo-s16', 'in']),
        (o) => Number(/counter packets (\d+)/.exec(o)?.[1] ?? 0) >= 3,
      ) && ok
    );
  } finally {
    nft(['delete', 'table', 'inet', 'demo-s16']);
  }
}
