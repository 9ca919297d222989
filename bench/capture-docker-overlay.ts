/**
 * Captures what a real Docker 20.10 (Debian docker.io) does with overlay
 * networks in its legacy multi-host mode (`--cluster-store etcd://`,
 * `--cluster-advertise`), the mode the seed's S16–S23 use: two lab hosts, a
 * one-member etcd (v2 API on, as libkv needs) in host 1 on its lab address
 * only, one dockerd per host in its own UTS namespace (two dockerds with one
 * hostname collide as one gossip node) and on tcp://IP:2375 besides the unix
 * socket. Recorded: docker info, overlay networks as both hosts see them
 * (automatic and explicit subnets, --internal, --attachable, MTU), containers
 * on both hosts (interfaces, routes, pings and DNS across hosts),
 * docker_gwbridge, published ports, network rm with a remote endpoint, the
 * VXLAN device in dockerd's overlay namespace, the etcd keys dockerd wrote,
 * and timings: network visibility on the other host, a ping sent the moment
 * `run -d` returns (20 tries each way), `run -d` on overlay and bridge.
 * Writes docs/reference/docker-20.10-overlay-transcript.md (raw).
 *
 *   [BERTH_LAB_NAME=NAME] node dist/bench/capture-docker-overlay.js [--out DIR]
 *
 * Everything (dockerds, containerds, etcd by PID, data dirs, namespaces) is
 * removed in `finally`, and the machine's own namespace is compared before and after.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { API, httpGet, old, val } from './lib/capture.js';
import { runCapture } from './lib/capture-run.js';
import type { RefDockerd } from './lib/refdockerd.js';
import type { RefEtcd } from './lib/refetcd.js';

const LOOP = ['sleep', '3600'];
const SLEEP = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const f1 = (x: number) => x.toFixed(1);

/** GET on a dockerd's socket; resolves with the HTTP status (0 on error). */
function getStatus(d: RefDockerd, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ socketPath: d.socket, method: 'GET', path: API + path }, (r) => {
      r.resume();
      r.on('end', () => resolve(r.statusCode ?? 0));
    });
    req.setTimeout(10_000, () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** The stock docker CLI against `d`, without blocking the event loop. */
function dockerAsync(
  d: RefDockerd,
  cliConfig: string,
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('docker', args, {
      env: { ...process.env, DOCKER_HOST: d.env.DOCKER_HOST, DOCKER_CONFIG: cliConfig },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * Creates (or removes) a network on `from` with the CLI while polling GET
 * /networks/NAME on `other` every ~2 ms; says when `other` first (no longer)
 * saw it, relative to the CLI's return.
 */
async function visibility(
  from: RefDockerd,
  other: RefDockerd,
  cli: string,
  name: string,
  args: string[],
): Promise<string> {
  const want = args[1] === 'rm' ? 404 : 200;
  const polls: { s: number; e: number; code: number }[] = [];
  let stop = false;
  let started = false;
  const poller = (async () => {
    while (!stop) {
      const s = now();
      const code = await getStatus(other, `/networks/${name}`);
      polls.push({ s, e: now(), code });
      if (code === want && started) break;
      await SLEEP(2);
    }
  })();
  await SLEEP(100);
  started = true;
  const t0 = now();
  const r = await dockerAsync(from, cli, args);
  const t1 = now();
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && polls.at(-1)?.code !== want) await SLEEP(5);
  stop = true;
  await poller;
  const first = polls.find((p) => p.code === want && p.s >= t0 - 1);
  const lastOther = [...polls].reverse().find((p) => p.code !== want);
  if (r.status !== 0) return `${args.join(' ')}: exit ${r.status} ${r.stderr.trim()}`;
  if (!first) return `${name}: not ${want === 200 ? 'visible' : 'gone'} on the other host in 10 s`;
  return (
    `docker ${args.join(' ')}: CLI took ${f1(t1 - t0)} ms; on the other host the last ` +
    `${lastOther?.code ?? '-'} poll began at ${lastOther ? f1(lastOther.s - t1) : '-'} ms, ` +
    `the first ${want} poll began at ${f1(first.s - t1)} ms and was answered at ${f1(first.e - t1)} ms ` +
    `(relative to the CLI's return; ${polls.length} polls)`
  );
}

runCapture({
  name: 'capture-docker-overlay',
  title: 'Docker 20.10 multi-host overlay networks (cluster store on etcd): raw capture',
  hosts: 2,
  steps: async ({ lab, cap: c, dockerd, on, etcd }) => {
    const [h1, h2] = [lab.hosts[0]!, lab.hosts[1]!];
    const cli = join(lab.dir, 'docker-cli');

    c.sec('Setup: etcd in h1, one dockerd per host');
    const e: RefEtcd = await etcd(0);
    const e2 = (args: string[], quiet = false) =>
      c.ns('h1', ['env', 'ETCDCTL_API=2', 'etcdctl', '--endpoints', e.endpoint, ...args], quiet);
    const e3 = (args: string[]) =>
      c.ns('h1', ['env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints', e.endpoint, ...args]);
    c.ns('h1', ['etcd', '--version']);
    e3(['endpoint', 'health']);
    e3(['member', 'list', '-w', 'table']);
    const flags = (ip: string) => [
      ...['-H', `tcp://${ip}:2375`],
      ...['--cluster-store', `etcd://${e.address}`, '--cluster-advertise', `${ip}:2375`],
    ];
    const refs: RefDockerd[] = [];
    for (const [i, h] of [h1, h2].entries()) {
      const t0 = now();
      refs.push(await dockerd(i, flags(h.ip), { hostname: `${lab.name}host${i + 1}` }));
      c.note(
        `dockerd in h${i + 1}`,
        `flags: ${flags(h.ip).join(' ')} (plus the unix socket), hostname ${lab.name}host${i + 1} ` +
          `in its own UTS namespace; /_ping answered ${f1(now() - t0)} ms after spawn ` +
          `(busybox import included after that)`,
      );
    }
    const [d1, d2] = [refs[0]!, refs[1]!];
    // Let both nodes register and gossip before the first network.
    await SLEEP(2000);
    for (const i of [0, 1]) {
      on(i);
      c.sec(`docker info (h${i + 1})`);
      old(c, ['info']);
      await c.api('GET', '/info', undefined, [
        'Name',
        'ClusterStore',
        'ClusterAdvertise',
        'Warnings',
        'Swarm.LocalNodeState',
      ]);
    }
    on(0);
    c.docker(['info', '--format', '{{json .ClusterStore}} {{json .ClusterAdvertise}}']);
    c.sec('The API over TCP from the other host');
    c.ns('h1', [
      'docker',
      '-H',
      `tcp://${h2.ip}:2375`,
      'version',
      '--format',
      '{{.Server.Version}}',
    ]);
    c.ns('h2', ['docker', '-H', `tcp://${h1.ip}:2375`, 'info', '--format', '{{.Name}}']);

    c.sec('Overlay network created on h1: visibility on h2');
    c.note(
      'ov1 create',
      await visibility(d1, d2, cli, 'ov1', ['network', 'create', '-d', 'overlay', 'ov1']),
    );
    for (const k of [1, 2, 3, 4, 5]) {
      const n = `vis${k}`;
      c.note(
        `${n} create`,
        await visibility(d1, d2, cli, n, ['network', 'create', '-d', 'overlay', n]),
      );
    }
    for (const k of [1, 2, 3]) {
      const n = `vis${k}`;
      c.note(`${n} rm`, await visibility(d1, d2, cli, n, ['network', 'rm', n]));
    }
    c.sec('network ls / inspect on both hosts');
    for (const i of [0, 1]) {
      on(i);
      c.docker(['network', 'ls']);
      c.docker(['network', 'inspect', 'ov1']);
    }
    on(1);
    c.docker(['network', 'inspect', '-f', '{{.Name}} {{json .IPAM.Config}}', 'vis4', 'vis5']);
    c.docker(['network', 'rm', 'vis4', 'vis5']);

    c.sec('Automatic subnets and explicit options');
    on(0);
    c.docker(['network', 'create', '-d', 'overlay', 'ov2']);
    on(1);
    c.docker(['network', 'create', '-d', 'overlay', 'ov3']);
    c.docker([
      'network',
      'inspect',
      '-f',
      '{{.Name}} {{.Scope}} {{json .IPAM.Config}}',
      'ov1',
      'ov2',
      'ov3',
    ]);
    on(0);
    c.docker([
      'network',
      'create',
      '-d',
      'overlay',
      ...['--subnet', '10.9.0.0/24', '--gateway', '10.9.0.254', '--ip-range', '10.9.0.128/25'],
      '--attachable',
      ...['-o', 'com.docker.network.driver.mtu=1400', '--label', 'team=a'],
      'ovc',
    ]);
    c.docker(['network', 'create', '-d', 'overlay', '--internal', 'ovi']);
    for (const i of [0, 1]) {
      on(i);
      c.docker(['network', 'inspect', 'ovc']);
    }
    c.docker([
      'network',
      'inspect',
      '-f',
      '{{.Name}} {{.Internal}} {{json .IPAM.Config}} {{json .Options}}',
      'ovi',
    ]);
    c.heading('Refusals');
    on(1);
    c.docker(['network', 'create', '-d', 'overlay', 'ov1']);
    c.docker(['network', 'create', '-d', 'overlay', '--subnet', '10.0.0.0/24', 'ovdup']);
    c.docker(['network', 'create', '-d', 'overlay', '--subnet', '10.9.0.0/16', 'ovover']);
    c.docker(['network', 'create', 'ov1']);
    c.docker(['network', 'create', '-d', 'overlay', '--ipv6', '--subnet', 'fd00:1::/64', 'ov6']);
    c.docker(['network', 'ls', '--filter', 'driver=overlay']);
    c.docker(['network', 'ls', '--filter', 'scope=global']);

    c.sec('Containers on both hosts on ov1');
    on(0);
    c.docker([
      'run',
      '-d',
      '--name',
      'c1',
      '--hostname',
      'c1',
      '--network',
      'ov1',
      '--network-alias',
      'al1',
      'busybox',
      ...LOOP,
    ]);
    on(1);
    c.docker([
      'run',
      '-d',
      '--name',
      'c2',
      '--hostname',
      'c2',
      '--network',
      'ov1',
      '--network-alias',
      'al2',
      'busybox',
      ...LOOP,
    ]);
    for (const [i, n] of [
      [0, 'c1'],
      [1, 'c2'],
    ] as const) {
      on(i);
      c.docker(['inspect', '-f', '{{json .NetworkSettings.Networks}}', n]);
      c.docker(['exec', n, 'ip', 'addr']);
      c.docker(['exec', n, 'ip', 'route']);
      c.docker(['exec', n, 'cat', '/etc/resolv.conf']);
      c.docker(['exec', n, 'cat', '/etc/hosts']);
    }
    on(0);
    const c2ip = (() => {
      on(1);
      const ip = val(c, '{{(index .NetworkSettings.Networks "ov1").IPAddress}}', 'c2');
      on(0);
      return ip;
    })();
    c.heading('Pings across hosts');
    c.docker(['exec', 'c1', 'ping', '-c2', '-W2', c2ip]);
    c.docker(['exec', 'c1', 'ping', '-c2', '-W2', 'c2']);
    c.docker(['exec', 'c1', 'ping', '-c2', '-W2', 'al2']);
    c.docker(['exec', 'c1', 'ping', '-c2', '-W2', 'c2.ov1']);
    on(1);
    c.docker(['exec', 'c2', 'ping', '-c2', '-W2', 'c1']);
    c.docker(['exec', 'c2', 'ping', '-c2', '-W2', 'al1']);
    c.heading('Embedded DNS');
    on(0);
    c.docker(['exec', 'c1', 'nslookup', 'c2']);
    c.docker(['exec', 'c1', 'nslookup', 'al2']);
    c.docker(['exec', 'c1', 'nslookup', 'c1']);
    c.docker(['exec', 'c1', 'nslookup', 'nosuch']);
    c.heading('Out to the world (default route via docker_gwbridge)');
    c.docker(['exec', 'c1', 'ping', '-c1', '-W2', lab.world.ip]);
    c.sec('network inspect ov1 with containers on both hosts');
    for (const i of [0, 1]) {
      on(i);
      c.docker(['network', 'inspect', 'ov1']);
      c.docker(['network', 'ls']);
    }
    c.sec('docker_gwbridge');
    for (const i of [0, 1]) {
      on(i);
      c.docker(['network', 'inspect', 'docker_gwbridge']);
    }
    c.ns('h1', ['ip', 'addr', 'show', 'docker_gwbridge']);
    c.ns('h1', ['ip', '-o', 'link']);
    c.ns('h1', ['ip', 'route']);
    c.ns('h1', ['iptables-save']);
    c.ns('h1', ['ss', '-lntup']);

    c.sec("dockerd's overlay namespace (h1, network ov1)");
    on(0);
    const ov1 = val(c, '{{.Id}}', 'ov1').slice(0, 64);
    const nsDir = (d: RefDockerd) => join(d.execRoot, 'netns');
    const listNs = (d: RefDockerd) => {
      try {
        return readdirSync(nsDir(d));
      } catch {
        return [];
      }
    };
    c.note('h1 exec-root netns dir', listNs(d1).join('\n'));
    c.note('h2 exec-root netns dir', listNs(d2).join('\n'));
    const ovNs = (d: RefDockerd, id: string) => {
      const n = listNs(d).find((x) => x.startsWith('1-') && id.startsWith(x.slice(2)));
      return n ? join(nsDir(d), n) : undefined;
    };
    for (const [where, d] of [
      ['h1', d1],
      ['h2', d2],
    ] as const) {
      const p = ovNs(d, ov1);
      if (!p) {
        c.note(`${where} overlay namespace of ov1`, '(not found)');
        continue;
      }
      const inNs = (argv: string[]) => c.ns(where, ['nsenter', `--net=${p}`, ...argv]);
      inNs(['ip', '-d', 'link']);
      inNs(['ip', 'addr']);
      inNs(['ip', 'route']);
      inNs(['ip', 'neigh']);
      inNs(['bridge', 'fdb', 'show']);
      inNs(['sysctl', 'net.ipv4.conf.all.forwarding', 'net.ipv4.neigh.vxlan0.gc_stale_time']);
    }

    c.sec('etcd: the keys dockerd wrote (v2 API)');
    e2(['ls', '--recursive', '/docker']);
    e3(['get', '--prefix', '--keys-only', '']);
    const keys = e2(['ls', '--recursive', '/docker'], true).stdout.split('\n').filter(Boolean);
    const show = (pred: (k: string) => boolean, max = 4) => {
      for (const k of keys.filter(pred).slice(0, max)) {
        const g = e2(['get', k], true);
        if (g.status === 0) e2(['get', k]);
      }
    };
    show((k) => k.startsWith('/docker/nodes/'));
    show((k) => k.startsWith(`/docker/network/v1.0/network/${ov1}`), 1);
    show((k) => k.startsWith(`/docker/network/v1.0/overlay/network/`), 6);
    show((k) => k.startsWith(`/docker/network/v1.0/endpoint/${ov1}/`), 4);
    show((k) => k.startsWith(`/docker/network/v1.0/endpoint_count/${ov1}`), 1);
    show((k) => k.startsWith('/docker/network/v1.0/ipam/'), 12);
    show((k) => k.startsWith('/docker/network/v1.0/idm/'), 4);
    e2(['get', '/docker/network/v1.0/network/' + ov1]);
    c.ns('h1', ['curl', '-s', `${e.endpoint}/v2/keys/docker/nodes?recursive=true`]);

    c.sec('Internal overlay (ovi)');
    on(0);
    c.docker(['run', '-d', '--name', 'i1', '--network', 'ovi', 'busybox', ...LOOP]);
    c.docker(['exec', 'i1', 'ip', 'addr']);
    c.docker(['exec', 'i1', 'ip', 'route']);
    on(1);
    c.docker(['run', '-d', '--name', 'i2', '--network', 'ovi', 'busybox', ...LOOP]);
    c.docker(['exec', 'i2', 'ip', 'route']);
    c.docker(['exec', 'i2', 'ping', '-c2', '-W2', 'i1']);
    c.docker(['exec', 'i2', 'ping', '-c1', '-W2', lab.world.ip]);
    c.docker([
      'network',
      'inspect',
      '-f',
      '{{range .Containers}}{{.Name}} {{.IPv4Address}}; {{end}}',
      'docker_gwbridge',
    ]);

    c.sec('Explicit subnet/gateway/ip-range/mtu/attachable overlay (ovc)');
    on(0);
    c.docker(['run', '-d', '--name', 'a1', '--network', 'ovc', 'busybox', ...LOOP]);
    c.docker(['exec', 'a1', 'ip', 'addr']);
    c.docker(['exec', 'a1', 'ip', 'route']);
    on(1);
    c.docker([
      'run',
      '-d',
      '--name',
      'a2',
      '--network',
      'ovc',
      '--ip',
      '10.9.0.10',
      'busybox',
      ...LOOP,
    ]);
    c.docker(['exec', 'a2', 'ip', 'addr', 'show', 'eth0']);
    c.docker(['exec', 'a2', 'ping', '-c2', '-W2', 'a1']);
    c.docker(['exec', 'a2', 'ping', '-c2', '-W2', '-s', '1372', 'a1']);
    c.docker(['exec', 'a2', 'ping', '-c1', '-W2', '-s', '1373', 'a1']);
    c.heading('The same container on a second overlay (connect), and a bridge network');
    c.docker(['network', 'connect', 'ov1', 'a2']);
    c.docker(['exec', 'a2', 'ip', 'route']);
    c.docker(['network', 'create', 'lbr']);
    c.docker(['run', '-d', '--name', 'mix', '--network', 'lbr', 'busybox', ...LOOP]);
    c.docker(['network', 'connect', 'ov1', 'mix']);
    c.docker(['exec', 'mix', 'ip', 'route']);
    c.docker(['exec', 'mix', 'ip', '-o', '-4', 'addr']);
    const ovcId = val(c, '{{.Id}}', 'ovc');
    const pc = ovNs(d2, ovcId);
    if (pc) c.ns('h2', ['nsenter', `--net=${pc}`, 'ip', '-d', 'link', 'show', 'type', 'vxlan']);
    if (pc) c.ns('h2', ['nsenter', `--net=${pc}`, 'ip', 'addr', 'show', 'br0']);

    c.sec('Published port on an overlay container (h2: -p 8000:80)');
    on(1);
    c.docker([
      'run',
      '-d',
      '--name',
      'web',
      '--network',
      'ov1',
      '-p',
      '8000:80',
      'busybox',
      'sh',
      '-c',
      'mkdir -p /www && echo "hello from web" > /www/index.html; exec httpd -f -vv -p 80 -h /www',
    ]);
    await SLEEP(500);
    c.docker(['port', 'web']);
    c.docker([
      'inspect',
      '-f',
      '{{json .NetworkSettings.Ports}} {{json .NetworkSettings.Networks}}',
      'web',
    ]);
    const out: string[] = [];
    httpGet(c, { ns: 'world' }, h2.ip, 8000, out);
    httpGet(c, { ns: 'h1' }, h2.ip, 8000, out);
    httpGet(c, { ns: 'world' }, h1.ip, 8000, out);
    on(0);
    httpGet(c, { ctr: 'c1' }, 'web', 80, out);
    on(1);
    httpGet(c, { ctr: 'c2' }, 'web', 80, out);
    c.note('HTTP probes', out.join('\n'));
    c.ns('h2', ['iptables', '-t', 'nat', '-S']);
    c.ns('h2', ['ss', '-lntp']);

    c.sec('network rm while the other host has an endpoint');
    on(0);
    c.docker(['rm', '-f', 'c1', 'i1', 'a1']);
    c.docker(['network', 'rm', 'ov1']);
    await c.api('DELETE', '/networks/ov1');
    c.docker(['network', 'inspect', '-f', '{{range .Containers}}{{.Name}} {{end}}', 'ov1']);
    on(1);
    c.docker(['network', 'rm', 'ov1']);
    c.heading('After the last endpoint on h2 is gone');
    c.docker(['rm', '-f', 'c2', 'web', 'mix']);
    c.docker(['network', 'disconnect', 'ov1', 'a2']);
    const p1 = ovNs(d1, ov1);
    if (p1) c.ns('h1', ['nsenter', `--net=${p1}`, 'ip', 'neigh']);
    if (p1) c.ns('h1', ['nsenter', `--net=${p1}`, 'bridge', 'fdb', 'show', 'dev', 'vxlan0']);
    c.note('h1 exec-root netns dir', listNs(d1).join('\n'));
    on(0);
    c.note('ov1 rm on h1', await visibility(d1, d2, cli, 'ov1', ['network', 'rm', 'ov1']));
    on(1);
    c.docker(['network', 'ls']);
    e2(['ls', '--recursive', '/docker/network/v1.0/endpoint']);
    e2(['ls', '--recursive', '/docker/network/v1.0/ipam']);
    e2(['get', '/docker/network/v1.0/idm/vxlan-id']);

    c.sec('Timing: a ping sent the moment run -d returns');
    on(0);
    c.docker(['network', 'create', '-d', 'overlay', '--subnet', '10.20.0.0/24', 'ovt']);
    c.docker([
      'run',
      '-d',
      '--name',
      'p1',
      '--network',
      'ovt',
      '--ip',
      '10.20.0.2',
      'busybox',
      ...LOOP,
    ]);
    const p1pid = val(c, '{{.State.Pid}}', 'p1');
    on(1);
    c.docker(['run', '-d', '--name', 'warm', '--network', 'ovt', 'busybox', ...LOOP]);
    c.docker(['exec', 'warm', 'ping', '-c1', '-W2', '10.20.0.2']);
    c.docker(['rm', '-f', 'warm']);
    const tries = 20;
    const lines: string[] = [];
    const runMs: number[] = [];
    let answered = 0;
    for (let i = 1; i <= tries; i++) {
      const ip = `10.20.0.${100 + i}`;
      const t0 = now();
      const r = c.docker(
        ['run', '-d', '--name', `ta${i}`, '--network', 'ovt', '--ip', ip, 'busybox', ...LOOP],
        { quiet: true },
      );
      const t1 = now();
      const p = c.ns(
        'h1',
        ['nsenter', `--net=/proc/${p1pid}/ns/net`, 'ping', '-n', '-c1', '-W1', ip],
        true,
      );
      const t2 = now();
      const ok = p.status === 0;
      if (ok) answered++;
      runMs.push(t1 - t0);
      const rtt = /time=([\d.]+) ms/.exec(p.stdout)?.[1] ?? '-';
      lines.push(
        `try ${i}: ${ip} run -d ${r.status === 0 ? 'ok' : 'FAILED ' + r.stderr.trim()} ${f1(t1 - t0)} ms; ` +
          `ping from p1 (h1) ${ok ? 'answered' : 'NOT answered'} rtt ${rtt} ms, return→ping done ${f1(t2 - t1)} ms`,
      );
      c.docker(['rm', '-f', `ta${i}`], { quiet: true });
      await SLEEP(300);
    }
    c.note(
      `A: run -d on h2 (--ip), then at once one ping (-c1 -W1) from p1 on h1 to it: ${answered}/${tries} answered; run -d median ${f1(median(runMs))} ms`,
      lines.join('\n'),
    );
    const blines: string[] = [];
    let banswered = 0;
    for (let i = 1; i <= tries; i++) {
      const target = i <= 15 ? '10.20.0.2' : 'p1';
      c.docker(
        [
          'run',
          '-d',
          '--name',
          `tb${i}`,
          '--network',
          'ovt',
          'busybox',
          'sh',
          '-c',
          `ping -n -c1 -W1 ${target}; echo rc=$?; exec sleep 3600`,
        ],
        { quiet: true },
      );
      await SLEEP(1500);
      const lg = c.docker(['logs', `tb${i}`], { quiet: true });
      const ok = /rc=0/.test(lg.stdout);
      if (ok) banswered++;
      const rtt = /time=([\d.]+) ms/.exec(lg.stdout)?.[1] ?? '-';
      blines.push(
        `try ${i}: ping ${target} ${ok ? 'answered' : 'NOT answered'} rtt ${rtt} ms ${ok ? '' : JSON.stringify(lg.stdout + lg.stderr)}`,
      );
      c.docker(['rm', '-f', `tb${i}`], { quiet: true });
      await SLEEP(300);
    }
    c.note(
      `B: a container on h2 whose first action is one ping (-c1 -W1) to p1 on h1 (tries 1-15 by IP, 16-20 by name): ${banswered}/${tries} answered`,
      blines.join('\n'),
    );

    c.sec('Timing: run -d, 10 each');
    const timeRuns = (tag: string, net: string) => {
      const ms: number[] = [];
      for (let i = 1; i <= 10; i++) {
        const t0 = now();
        const r = c.docker(
          ['run', '-d', '--name', `${tag}${i}`, '--network', net, 'busybox', ...LOOP],
          { quiet: true },
        );
        ms.push(now() - t0);
        if (r.status !== 0) throw new Error(`run -d ${tag}${i}: ${r.stderr.trim()}`);
        c.docker(['rm', '-f', `${tag}${i}`], { quiet: true });
      }
      return `median ${f1(median(ms))} ms; all: ${ms.map(f1).join(' ')}`;
    };
    on(1);
    c.note('h2 run -d --network ovt (overlay)', timeRuns('ro', 'ovt'));
    c.note('h2 run -d --network bridge (default bridge)', timeRuns('rb', 'bridge'));
    c.note('h2 run -d --network lbr (user bridge)', timeRuns('rl', 'lbr'));
    on(0);
    c.note('h1 run -d --network ovt (overlay)', timeRuns('ro', 'ovt'));

    c.sec('dockerd logs (warnings and errors, first lines)');
    for (const [where, d] of [
      ['h1', d1],
      ['h2', d2],
    ] as const) {
      c.ns(where, [
        'sh',
        '-c',
        `grep -E 'level=(warning|error|fatal)|DEPRECAT|deprecat|cluster|discovery|serf|memberlist' ${d.log} | cut -c1-300 | head -60`,
      ]);
    }
  },
});
