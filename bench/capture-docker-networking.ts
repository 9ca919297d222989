/**
 * Captures what a real Docker 20.10 (Debian docker.io) does for bridge
 * networking, so Berth is built against observed behaviour: commands of the
 * stock docker CLI with their stdout, stderr and exit codes, Engine API calls
 * with HTTP status and body, and what dockerd set up in its lab host (links,
 * addresses, routes, firewall, sysctls). Writes a markdown transcript and the
 * same as JSON; docs/reference/docker-20.10-networking.md is distilled from it.
 *
 *   node dist/bench/capture-docker-networking.js [--out DIR]
 *
 * The lab's host 1 runs dockerd (bench/lib/refdockerd.ts); host 2 runs nothing
 * and serves as the untouched baseline for sysctls; the world runs dnsmasq (the
 * daemon's --dns upstream) and busybox httpd (an "internet" page). Its uplink
 * MTU is set to 1450 before dockerd starts, to show whether Docker inherits it.
 * Everything is removed in `finally`, and the machine's own namespace is
 * compared before and after, as bench/run-rm.ts does.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Capture, sysctlDiff, val } from './lib/capture.js';
import { runCapture } from './lib/capture-run.js';

const LOOP = ['sh', '-c', 'while true; do sleep 3600; done'];
// The environment of the container's main process (`exec env` shows the exec's own).
const PID1_ENV = ['sh', '-c', "tr '\\0' '\\n' < /proc/1/environ"];
// busybox wget segfaults in the imported image (exit 139, even by address); nc works.
const HTTP_GET = ['sh', '-c', "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 203.0.113.1 80"];

/** What dockerd set up in host 1: links, addresses, routes, bridge ports, firewall. */
function hostState(c: Capture, nft: boolean): void {
  c.ns('h1', ['ip', '-d', 'link']);
  c.ns('h1', ['ip', 'addr']);
  c.ns('h1', ['ip', 'route']);
  c.ns('h1', ['ip', '-6', 'route']);
  c.ns('h1', ['bridge', '-d', 'link']);
  c.ns('h1', ['iptables-save']);
  c.ns('h1', ['ip6tables-save']);
  if (nft) c.ns('h1', ['nft', 'list', 'ruleset']);
  for (const h of ['h1', 'h2'] as const) c.ns(h, ['sysctl', ...KEY_SYSCTLS]);
  c.ns('h1', [
    'sh',
    '-c',
    'for f in /proc/sys/net/ipv4/conf/*/route_localnet; do echo "$f $(cat $f)"; done',
  ]);
  sysctlDiff(c);
}

const KEY_SYSCTLS = [
  'net.ipv4.ip_forward',
  'net.ipv6.conf.all.forwarding',
  'net.bridge.bridge-nf-call-iptables',
  'net.bridge.bridge-nf-call-ip6tables',
  'net.ipv4.conf.all.route_localnet',
];

/** Network create through the API, with the CLI's body shape. */
function netBody(name: string, extra: Record<string, unknown> = {}, config: object[] = []) {
  return {
    Name: name,
    CheckDuplicate: true,
    Driver: 'bridge',
    IPAM: { Driver: 'default', Options: {}, Config: config },
    Internal: false,
    Attachable: false,
    Options: {},
    Labels: {},
    ...extra,
  };
}

/** Container create through the API (as `docker run -d busybox sh -c LOOP`). */
function containerBody(networkMode: string, endpoints: Record<string, unknown> = {}) {
  return {
    Image: 'busybox',
    Cmd: LOOP,
    HostConfig: { NetworkMode: networkMode },
    NetworkingConfig: { EndpointsConfig: endpoints },
  };
}

async function defaultBridge(c: Capture): Promise<void> {
  const runD = (name: string, ...o: string[]) =>
    c.docker(['run', '-d', '--name', name, ...o, 'busybox', ...LOOP]);
  const ex = (name: string, ...cmd: string[]) => c.docker(['exec', name, ...cmd]);

  c.sec('1. Daemon, versions, the built-in networks (no containers)');
  c.docker(['version']);
  c.docker(['info']);
  c.docker(['network', 'ls']);
  c.docker(['network', 'ls', '--no-trunc']);
  await c.api('GET', '/networks');
  c.docker(['network', 'inspect', 'bridge']);
  c.docker(['network', 'inspect', 'host', 'none']);

  c.sec(
    '1b. Host 1 as dockerd set it up, no containers (uplink eth0 MTU set to 1450 by the script)',
  );
  hostState(c, true);

  c.sec('2. A container on the default bridge (test1)');
  runD('test1');
  c.docker(['ps']);
  c.docker(['inspect', 'test1']);
  await c.api('GET', '/containers/test1/json', undefined, 'NetworkSettings');
  for (const cmd of [
    ['ip', 'a'],
    ['ip', 'route'],
    ['cat', '/etc/hosts'],
    ['cat', '/etc/resolv.conf'],
    ['hostname'],
    ['cat', '/sys/class/net/eth0/mtu'],
    ['cat', '/sys/class/net/eth0/iflink'],
  ]) {
    ex('test1', ...cmd);
  }
  c.docker(['network', 'inspect', 'bridge']);
  c.ns('h1', ['ip', '-d', 'link', 'show', 'master', 'docker0']);
  c.ns('h1', ['ip', '-d', 'addr', 'show', 'docker0']);
  c.docker([
    'inspect',
    '--format',
    'Id={{.Id}} EndpointID={{.NetworkSettings.EndpointID}} SandboxID={{.NetworkSettings.SandboxID}} SandboxKey={{.NetworkSettings.SandboxKey}} HostsPath={{.HostsPath}} ResolvConfPath={{.ResolvConfPath}}',
    'test1',
  ]);

  c.sec('2b. The outside world from the default bridge (S6): ping, DNS via --dns, HTTP');
  ex('test1', 'ping', '-c1', '-W2', '203.0.113.1');
  ex('test1', 'nslookup', 'www.world.test');
  ex('test1', 'wget', '-qO-', '-T5', 'http://203.0.113.1/');
  ex('test1', ...HTTP_GET);
  ex('test1', 'nslookup', 'nosuch.invalid');

  c.sec('3. Links: test2 --link test1');
  runD('test2', '--link', 'test1');
  ex('test2', 'env');
  ex('test2', 'cat', '/etc/hosts');
  ex('test2', 'ping', '-c1', '-W2', 'test1');
  ex('test1', 'ping', '-c1', '-W2', 'test2');
  ex('test1', 'cat', '/etc/hosts');
  const ip2 = val(c, '{{.NetworkSettings.IPAddress}}', 'test2');
  ex('test1', 'ping', '-c1', '-W2', ip2);
  c.docker(['inspect', '--format', '{{json .HostConfig.Links}}', 'test2']);
  c.docker(['inspect', '--format', '{{json .NetworkSettings.Networks}}', 'test2']);

  c.sec('1c. Host 1 with two running containers (test1, test2)');
  c.docker(['network', 'inspect', 'bridge']);
  hostState(c, true);

  c.sec('3b. Links with an alias, and with exposed ports');
  runD('test4', '--link', 'test1:alias1');
  ex('test4', 'env');
  ex('test4', 'cat', '/etc/hosts');
  ex('test4', 'ping', '-c1', '-W2', 'alias1');
  runD('web1', '--expose', '80', '--expose', '53/udp', '--expose', '8000-8001', '-e', 'FOO=bar');
  runD('test5', '--link', 'web1:web', '--link', 'test1');
  ex('test5', 'env');
  ex('test5', ...PID1_ENV);
  // Link variables are made at start: does the parent's inspect show them?
  await c.api('GET', '/containers/test5/json', undefined, 'Config.Env');
  ex('test5', 'cat', '/etc/hosts');
  runD('test5b', '--link', 'nosuch');
  c.docker(['rm', '-f', 'test5b']);

  c.sec('3c. Links when the child restarts or changes address');
  const ipOf = (n: string) =>
    c.docker(['inspect', '--format', '{{.NetworkSettings.IPAddress}}', n]);
  ipOf('test1');
  c.docker(['restart', '-t', '1', 'test1']);
  ipOf('test1');
  ex('test2', 'cat', '/etc/hosts');
  c.docker(['stop', '-t', '1', 'test1']);
  ipOf('test1');
  ex('test2', 'cat', '/etc/hosts');
  runD('filler');
  ipOf('filler');
  c.docker(['start', 'test1']);
  ipOf('test1');
  ex('test2', 'cat', '/etc/hosts');
  ex('test2', 'ping', '-c1', '-W2', 'test1');
  ex('test2', 'env');
  c.docker(['stop', '-t', '1', 'test1']);
  c.docker(['restart', '-t', '1', 'test2']);
  c.docker(['ps', '-a']);
  c.docker(['start', 'test1']);
  c.docker(['start', 'test2']);
  ex('test2', 'env');
  ex('test2', 'cat', '/etc/hosts');
  // A child with exposed ports moving to a new address: the parent's *_ADDR
  // variables as `exec` sees them, and its /etc/hosts.
  c.docker(['stop', '-t', '1', 'web1']);
  runD('filler2');
  c.docker(['start', 'web1']);
  ipOf('web1');
  ex('test5', 'env');
  ex('test5', ...PID1_ENV);
  ex('test5', 'cat', '/etc/hosts');
  c.docker(['rm', '-f', 'filler', 'filler2', 'test4', 'test5', 'web1']);
}

const VARIANTS: [string, string[]][] = [
  [
    'net-sub',
    [
      '--subnet',
      '10.10.0.0/16',
      '--gateway',
      '10.10.0.254',
      '--ip-range',
      '10.10.5.0/24',
      '--label',
      'team=blue',
      '--label',
      'solo',
    ],
  ],
  ['net-int', ['--internal']],
  ['net-named', ['-o', 'com.docker.network.bridge.name=brx']],
  ['net-noicc', ['-o', 'com.docker.network.bridge.enable_icc=false']],
  ['net-nomasq', ['-o', 'com.docker.network.bridge.enable_ip_masquerade=false']],
  ['net-mtu', ['-o', 'com.docker.network.driver.mtu=1400']],
  ['net-v6', ['--ipv6', '--subnet', 'fd00::/64']],
  ['net-dual', ['--ipv6', '--subnet', '10.20.0.0/24', '--subnet', 'fd01::/64']],
];

async function userNetworks(c: Capture): Promise<void> {
  const runD = (name: string, ...o: string[]) =>
    c.docker(['run', '-d', '--name', name, ...o, 'busybox', ...LOOP]);
  const ex = (name: string, ...cmd: string[]) => c.docker(['exec', name, ...cmd]);

  c.sec('4. network create my-bridge');
  c.docker(['network', 'create', '-d', 'bridge', 'my-bridge']);
  c.docker(['network', 'ls']);
  c.docker(['network', 'inspect', 'my-bridge']);
  const id = val(c, '{{.Id}}', 'my-bridge');
  c.ns('h1', ['ip', '-d', 'link', 'show', `br-${id.slice(0, 12)}`]);
  c.ns('h1', ['ip', 'addr', 'show', `br-${id.slice(0, 12)}`]);
  c.ns('h1', ['iptables-save']);
  await c.api('POST', '/networks/create', netBody('api-net'));
  await c.api('GET', '/networks/api-net');
  await c.api('DELETE', '/networks/api-net');

  c.sec('4b. network create options');
  for (const [name, opts] of VARIANTS) {
    c.docker(['network', 'create', ...opts, name]);
    c.docker(['network', 'inspect', name]);
  }
  c.docker(['network', 'ls']);
  c.ns('h1', ['ip', '-d', 'link', 'show', 'type', 'bridge']);
  c.ns('h1', ['ip', 'addr']);

  c.sec('4c. Containers on those networks');
  runD('s1', '--network', 'net-sub');
  runD('s2', '--network', 'net-sub', '--ip', '10.10.0.7');
  const s1ip = val(c, '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 's1');
  runD('s3', '--network', 'net-sub', '--ip', s1ip);
  c.docker(['rm', '-f', 's3']);
  c.docker(['inspect', '--format', '{{json .NetworkSettings.Networks}}', 's1', 's2']);
  ex('s1', 'ip', 'a');
  ex('s1', 'ip', 'route');
  runD('i1', '--network', 'net-int');
  ex('i1', 'ip', 'a');
  ex('i1', 'ip', 'route');
  ex('i1', 'ping', '-c1', '-W2', '203.0.113.1');
  ex('i1', 'nslookup', 'www.world.test');
  c.docker(['inspect', '--format', '{{json .NetworkSettings.Networks}}', 'i1']);
  runD('n1', '--network', 'net-noicc');
  runD('n2', '--network', 'net-noicc');
  ex(
    'n1',
    'ping',
    '-c1',
    '-W2',
    val(c, '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 'n2'),
  );
  ex('n1', 'ping', '-c1', '-W2', 'n2');
  ex('n1', 'ping', '-c1', '-W2', '203.0.113.1');
  runD('q1', '--network', 'net-nomasq');
  ex('q1', 'ping', '-c1', '-W2', '203.0.113.1');
  runD('m1', '--network', 'net-mtu');
  ex('m1', 'ip', 'link');
  runD('v1', '--network', 'net-v6');
  ex('v1', 'ip', 'a');
  ex('v1', 'ip', '-6', 'route');
  ex('v1', 'cat', '/etc/hosts');
  c.docker(['inspect', '--format', '{{json .NetworkSettings}}', 'v1']);
  runD('d1', '--network', 'net-dual');
  ex('d1', 'ip', 'a');
  ex('d1', 'ip', '-6', 'route');
  c.docker(['network', 'inspect', 'net-dual']);
  runD('r1', '--network', 'net-named');
  c.sec('4d. Host 1 with the option networks and their containers');
  hostState(c, false);
  c.docker(['rm', '-f', 's1', 's2', 'i1', 'n1', 'n2', 'q1', 'm1', 'v1', 'd1', 'r1']);
  c.docker(['network', 'rm', ...VARIANTS.map(([n]) => n)]);

  c.sec('6. User-defined network: containers, connect, DNS');
  runD('test3', '--network', 'my-bridge');
  ex('test3', 'cat', '/etc/resolv.conf');
  ex('test3', 'cat', '/etc/hosts');
  ex('test3', 'ip', 'a');
  ex('test3', 'ip', 'route');
  c.docker(['network', 'connect', 'my-bridge', 'test2']);
  ex('test2', 'ip', 'a');
  ex('test2', 'ip', 'route');
  ex('test2', 'cat', '/etc/resolv.conf');
  ex('test2', 'cat', '/etc/hosts');
  c.docker(['network', 'inspect', 'my-bridge']);
  await c.api('GET', '/containers/test2/json', undefined, 'NetworkSettings');
  c.docker(['inspect', '--format', '{{json .NetworkSettings.Networks}}', 'test2']);
  ex('test3', 'nslookup', 'test2');
  ex('test3', 'ping', '-c1', '-W2', 'test2');
  ex('test2', 'ping', '-c1', '-W2', 'test3');
  ex('test2', 'nslookup', 'test3');
  runD('test6', '--network', 'my-bridge', '--network-alias', 'web-alias');
  runD('test7', '--network', 'my-bridge', '--network-alias', 'web-alias', '--hostname', 'h7');
  for (let i = 0; i < 3; i++) ex('test3', 'nslookup', 'web-alias');
  ex('test3', 'ping', '-c1', '-W2', 'web-alias');
  await c.api('GET', '/containers/test6/json', undefined, 'NetworkSettings.Networks');
  await c.api('GET', '/containers/test7/json', undefined, 'Config.Hostname');
  const short2 = val(c, '{{.Id}}', 'test2').slice(0, 12);
  ex('test3', 'nslookup', short2);
  ex('test3', 'nslookup', 'test2.my-bridge');
  ex('test3', 'nslookup', 'h7');
  ex(
    'test3',
    'nslookup',
    val(c, '{{(index .NetworkSettings.Networks "my-bridge").IPAddress}}', 'test2'),
  );
  ex('test3', 'nslookup', 'test1');
  ex('test3', 'nslookup', 'www.world.test');
  ex('test3', 'nslookup', 'nosuch.invalid');
  ex('test3', ...HTTP_GET);
  ex('test1', 'nslookup', 'test3');
  ex('test3', 'cat', '/etc/hosts');

  c.sec('6b. Resolution and reachability from a different network');
  c.docker(['network', 'create', 'other-net']);
  runD('test9', '--network', 'other-net');
  const gw = val(c, '{{range .IPAM.Config}}{{.Gateway}}{{end}}', 'my-bridge');
  ex('test9', 'nslookup', 'test3');
  ex('test9', 'timeout', '10', 'nslookup', 'test3', gw);
  ex(
    'test9',
    'ping',
    '-c1',
    '-W2',
    val(c, '{{(index .NetworkSettings.Networks "my-bridge").IPAddress}}', 'test3'),
  );
  ex('test9', 'ping', '-c1', '-W2', gw);

  c.sec(
    '6c. connect with --ip and --alias; user-net container on the default bridge; --link on a user network',
  );
  c.docker(['network', 'create', '--subnet', '10.50.0.0/24', 'sub-net']);
  c.docker([
    'network',
    'connect',
    '--ip',
    '10.50.0.50',
    '--alias',
    'db',
    '--alias',
    'db2',
    'sub-net',
    'test3',
  ]);
  ex('test3', 'ip', 'a');
  ex('test3', 'ip', 'route');
  ex('test3', 'nslookup', 'db');
  c.docker(['inspect', '--format', '{{json .NetworkSettings.Networks}}', 'test3']);
  c.docker(['network', 'connect', 'bridge', 'test3']);
  ex('test3', 'ip', 'route');
  ex('test3', 'cat', '/etc/resolv.conf');
  c.docker(['network', 'disconnect', 'bridge', 'test3']);
  runD('test8', '--network', 'my-bridge', '--link', 'test3:db3');
  ex('test8', 'cat', '/etc/hosts');
  ex('test8', 'nslookup', 'db3');
  ex('test8', 'env');
  c.docker([
    'inspect',
    '--format',
    '{{json .HostConfig.Links}} {{json .NetworkSettings.Networks}}',
    'test8',
  ]);
  c.docker(['create', '--name', 'stopped1', 'busybox', 'true']);
  c.docker(['network', 'connect', 'my-bridge', 'stopped1']);
  await c.api('GET', '/containers/stopped1/json', undefined, 'NetworkSettings.Networks');
  c.docker(['network', 'inspect', '--format', '{{json .Containers}}', 'my-bridge']);
  c.docker(['rm', 'stopped1']);
  c.sec('6d. Which network gives the default route (attach order vs. name order, internal)');
  c.docker(['network', 'create', 'zz-net']);
  c.docker(['network', 'create', 'aa-net']);
  c.docker(['network', 'create', '--internal', 'a0-int']);
  runD('gw1', '--network', 'zz-net');
  ex('gw1', 'ip', 'route');
  c.docker(['network', 'connect', 'a0-int', 'gw1']);
  ex('gw1', 'ip', 'route');
  c.docker(['network', 'connect', 'aa-net', 'gw1']);
  ex('gw1', 'ip', 'route');
  ex('gw1', 'ip', 'a');
  c.docker(['network', 'disconnect', 'aa-net', 'gw1']);
  ex('gw1', 'ip', 'route');
  c.docker(['rm', '-f', 'gw1']);
  c.docker(['network', 'rm', 'zz-net', 'aa-net', 'a0-int']);

  c.sec('6e. A stopped container and network rm');
  c.docker(['network', 'create', 'tmpnet']);
  c.docker(['create', '--name', 'stopped2', '--network', 'tmpnet', 'busybox', 'true']);
  c.docker(['network', 'rm', 'tmpnet']);
  c.docker(['start', 'stopped2']);
  c.docker(['rm', '-f', 'stopped2']);
}

/** One bad request, made with the CLI and again with the API for its HTTP status. */
interface ErrorCase {
  /** What is being tried. */
  label: string;
  /** docker CLI arguments. */
  cli: string[];
  /** The same request at the API: method, path, body. */
  api?: [string, string, unknown?];
}

const withSubnet = (cfg: Record<string, string>) => ({
  IPAM: { Driver: 'default', Options: {}, Config: [cfg] },
});

function createCase(label: string, name: string, opts: string[], extra = {}): ErrorCase {
  const api: ErrorCase['api'] = ['POST', '/networks/create', netBody(name, extra)];
  return { label, cli: ['network', 'create', ...opts, name], api };
}

function connectCase(
  label: string,
  net: string,
  ctr: string,
  opts: string[] = [],
  ep = {},
): ErrorCase {
  const api: ErrorCase['api'] = [
    'POST',
    `/networks/${net}/connect`,
    { Container: ctr, EndpointConfig: ep },
  ];
  return { label, cli: ['network', 'connect', ...opts, net, ctr], api };
}

function disconnectCase(label: string, net: string, ctr: string, force = false): ErrorCase {
  const api: ErrorCase['api'] = [
    'POST',
    `/networks/${net}/disconnect`,
    { Container: ctr, Force: force },
  ];
  return { label, cli: ['network', 'disconnect', ...(force ? ['-f'] : []), net, ctr], api };
}

function rmCase(label: string, net: string): ErrorCase {
  return { label, cli: ['network', 'rm', net], api: ['DELETE', `/networks/${net}`] };
}

function runCase(label: string, name: string, opts: string[], mode?: string, ep = {}): ErrorCase {
  const cli = ['run', '-d', '--name', name, ...opts, 'busybox', ...LOOP];
  if (!mode) return { label, cli };
  const body = containerBody(mode, ep);
  return { label, cli, api: ['POST', `/containers/create?name=${name}-api`, body] };
}

/** Runs one case; whatever Docker accepted is shown and undone, so every case starts alike. */
async function errorCase(c: Capture, k: ErrorCase): Promise<void> {
  c.note('case', k.label);
  const r = c.docker(k.cli);
  if (k.cli[0] === 'network' && k.cli[1] === 'create' && r.status === 0) {
    const name = k.cli[k.cli.length - 1]!;
    c.docker(['network', 'inspect', '--format', '{{json .IPAM}}', name]);
    const id = val(c, '{{.Id}}', name).slice(0, 12);
    c.ns('h1', ['ip', '-4', 'addr', 'show', 'dev', `br-${id}`]);
    c.docker(['network', 'rm', name]);
  }
  // `run` can fail at start after the container was created.
  if (k.cli[0] === 'run') c.docker(['rm', '-f', k.cli[3]!]);
  if (!k.api) return;
  const a = await c.api(k.api[0], k.api[1], k.api[2]);
  const id = (a.json as { Id?: string } | undefined)?.Id;
  if (a.status !== 201 || !id) return;
  if (k.api[1].startsWith('/containers/')) {
    await c.api('POST', `/containers/${id}/start`);
    await c.api('DELETE', `/containers/${id}?force=1`);
  } else {
    await c.api('GET', `/networks/${id}`);
    await c.api('DELETE', `/networks/${id}`);
  }
}

async function errors(c: Capture): Promise<void> {
  const runD = (name: string, ...o: string[]) =>
    c.docker(['run', '-d', '--name', name, ...o, 'busybox', ...LOOP]);
  c.sec('5. Errors (each with the CLI, then the same request at the API)');
  runD('cnone', '--network', 'none');
  runD('chost', '--network', 'host');
  c.docker(['network', 'create', '--subnet', '10.30.0.0/16', 'ov1']);
  runD('ipholder', '--network', 'ov1', '--ip', '10.30.0.5');
  c.docker(['network', 'ls']);
  const mySub = val(c, '{{range .IPAM.Config}}{{.Subnet}}{{end}}', 'my-bridge');
  const myIp = mySub.replace(/0\/\d+$/, '99');
  const ipv4 = (ip: string) => ({ IPAMConfig: { IPv4Address: ip } });
  const cases: ErrorCase[] = [
    createCase('duplicate name', 'my-bridge', []),
    createCase('create bridge', 'bridge', []),
    createCase('create host', 'host', []),
    createCase('create none', 'none', []),
    createCase('create bridge, API without CheckDuplicate', 'bridge', ['-d', 'bridge'], {
      CheckDuplicate: false,
    }),
    createCase('empty name', '', []),
    createCase('unknown driver', 'n-drv', ['-d', 'nosuchdriver'], { Driver: 'nosuchdriver' }),
    createCase(
      'subnet 300.1.0.0/16',
      'n-cidr1',
      ['--subnet', '300.1.0.0/16'],
      withSubnet({ Subnet: '300.1.0.0/16' }),
    ),
    createCase(
      'subnet 10.0.0.0/33',
      'n-cidr2',
      ['--subnet', '10.0.0.0/33'],
      withSubnet({ Subnet: '10.0.0.0/33' }),
    ),
    createCase('subnet foo', 'n-cidr3', ['--subnet', 'foo'], withSubnet({ Subnet: 'foo' })),
    createCase(
      'subnet with host bits set (10.1.2.3/16)',
      'n-cidr4',
      ['--subnet', '10.1.2.3/16'],
      withSubnet({ Subnet: '10.1.2.3/16' }),
    ),
    createCase(
      'gateway outside subnet',
      'n-gw',
      ['--subnet', '10.60.0.0/16', '--gateway', '10.61.0.1'],
      withSubnet({ Subnet: '10.60.0.0/16', Gateway: '10.61.0.1' }),
    ),
    createCase(
      'gateway without subnet',
      'n-gw2',
      ['--gateway', '10.61.0.1'],
      withSubnet({ Gateway: '10.61.0.1' }),
    ),
    createCase(
      'gateway = network address',
      'n-gw3',
      ['--subnet', '10.62.0.0/16', '--gateway', '10.62.0.0'],
      withSubnet({ Subnet: '10.62.0.0/16', Gateway: '10.62.0.0' }),
    ),
    createCase(
      'ip-range outside subnet',
      'n-rng',
      ['--subnet', '10.60.0.0/16', '--ip-range', '10.61.0.0/24'],
      withSubnet({ Subnet: '10.60.0.0/16', IPRange: '10.61.0.0/24' }),
    ),
    createCase(
      'overlap with ov1 (10.30.0.0/16)',
      'n-ov',
      ['--subnet', '10.30.5.0/24'],
      withSubnet({ Subnet: '10.30.5.0/24' }),
    ),
    createCase(
      'overlap with docker0',
      'n-ov0',
      ['--subnet', '172.17.0.0/16'],
      withSubnet({ Subnet: '172.17.0.0/16' }),
    ),
    createCase(
      'same subnet as my-bridge',
      'n-ovm',
      ['--subnet', mySub],
      withSubnet({ Subnet: mySub }),
    ),
    createCase('--ipv6 without an IPv6 subnet', 'n-v6auto', ['--ipv6'], { EnableIPv6: true }),
    rmCase('rm network with a running container', 'my-bridge'),
    rmCase('rm bridge', 'bridge'),
    rmCase('rm host', 'host'),
    rmCase('rm none', 'none'),
    rmCase('rm nosuch', 'nosuch'),
    { label: 'rm -f nosuch', cli: ['network', 'rm', '-f', 'nosuch'] },
    connectCase('connect a --network none container', 'my-bridge', 'cnone'),
    connectCase('connect a --network host container', 'my-bridge', 'chost'),
    connectCase('connect to host', 'host', 'test1'),
    connectCase('connect to none', 'none', 'test1'),
    disconnectCase('disconnect from host', 'host', 'chost'),
    connectCase('connect twice', 'my-bridge', 'test3'),
    disconnectCase('disconnect not connected', 'my-bridge', 'test1'),
    connectCase(
      'connect --ip outside the subnet',
      'ov1',
      'test1',
      ['--ip', '10.9.9.9'],
      ipv4('10.9.9.9'),
    ),
    connectCase(
      'connect --ip already in use',
      'ov1',
      'test1',
      ['--ip', '10.30.0.5'],
      ipv4('10.30.0.5'),
    ),
    connectCase(
      'connect --ip, network without --subnet',
      'my-bridge',
      'test1',
      ['--ip', '10.9.9.9'],
      ipv4('10.9.9.9'),
    ),
    connectCase(
      'connect --ip inside the auto subnet, network without --subnet',
      'my-bridge',
      'test1',
      ['--ip', myIp],
      ipv4(myIp),
    ),
    connectCase('connect --alias to the default bridge', 'bridge', 'test3', ['--alias', 'x'], {
      Aliases: ['x'],
    }),
    runCase('run --ip on the default bridge', 'e-ip', ['--ip', '172.17.0.50'], 'bridge', {
      bridge: ipv4('172.17.0.50'),
    }),
    runCase(
      'run --ip, network without --subnet',
      'e-ip2',
      ['--network', 'my-bridge', '--ip', myIp],
      'my-bridge',
      { 'my-bridge': ipv4(myIp) },
    ),
    runCase(
      'run --ip outside the subnet',
      'e-ip3',
      ['--network', 'ov1', '--ip', '10.9.9.9'],
      'ov1',
      { ov1: ipv4('10.9.9.9') },
    ),
    runCase('run --ip already in use', 'e-ip4', ['--network', 'ov1', '--ip', '10.30.0.5'], 'ov1', {
      ov1: ipv4('10.30.0.5'),
    }),
    runCase(
      'run --network-alias on the default bridge',
      'e-alias',
      ['--network-alias', 'x'],
      'bridge',
      { bridge: { Aliases: ['x'] } },
    ),
    runCase('run --network nosuch', 'e-net', ['--network', 'nosuch'], 'nosuch'),
    runCase('run --link to a missing container', 'e-link', ['--link', 'nosuch']),
    connectCase('connect nosuch c', 'nosuch', 'test1'),
    connectCase('connect my-bridge nosuch', 'my-bridge', 'nosuch'),
    disconnectCase('disconnect my-bridge nosuch', 'my-bridge', 'nosuch'),
    disconnectCase('disconnect -f my-bridge nosuch', 'my-bridge', 'nosuch', true),
    disconnectCase('disconnect -f nosuch test1', 'nosuch', 'test1', true),
    disconnectCase('disconnect -f of a container not connected', 'my-bridge', 'test1', true),
  ];
  for (const k of cases) await errorCase(c, k);

  c.note('case', 'duplicate name through the API without CheckDuplicate');
  const dup = await c.api(
    'POST',
    '/networks/create',
    netBody('my-bridge', { CheckDuplicate: false }),
  );
  c.docker(['network', 'ls']);
  c.docker(['network', 'inspect', 'my-bridge']);
  c.docker(['network', 'rm', 'my-bridge']);
  const dupId = (dup.json as { Id?: string } | undefined)?.Id;
  if (dupId) c.docker(['network', 'rm', dupId]);

  c.note(
    'case',
    'connect --ip inside the subnet, then disconnect -f of a connected running container',
  );
  c.docker(['network', 'connect', '--ip', '10.30.0.9', 'ov1', 'test1']);
  c.docker(['exec', 'test1', 'ip', 'a']);
  c.docker(['network', 'disconnect', '-f', 'ov1', 'test1']);
  c.docker(['exec', 'test1', 'ip', 'a']);
  c.note('case', 'explicit subnet equal to the host uplink 198.51.100.0/24');
  c.docker(['network', 'create', '--subnet', '198.51.100.0/24', 'n-uplink']);
  c.ns('h1', ['ip', 'route']);
  c.docker(['network', 'rm', 'n-uplink']);
  c.ns('h1', ['ip', 'route']);
  c.docker(['network', 'ls']);
  c.docker(['rm', '-f', 'cnone', 'chost', 'ipholder']);
  c.docker(['network', 'rm', 'ov1']);
}

async function disconnectPruneRm(c: Capture): Promise<void> {
  const ex = (name: string, ...cmd: string[]) => c.docker(['exec', name, ...cmd]);
  c.sec('7. network disconnect');
  c.docker(['network', 'disconnect', 'my-bridge', 'test2']);
  ex('test2', 'ip', 'a');
  ex('test2', 'ip', 'route');
  ex('test2', 'cat', '/etc/resolv.conf');
  ex('test2', 'cat', '/etc/hosts');
  ex('test3', 'nslookup', 'test2');
  c.docker(['network', 'inspect', '--format', '{{json .Containers}}', 'my-bridge']);
  await c.api('POST', '/networks/my-bridge/disconnect', { Container: 'test7', Force: false });
  await c.api('POST', '/networks/my-bridge/connect', {
    Container: 'test7',
    EndpointConfig: { Aliases: ['api-alias'] },
  });
  ex('test3', 'nslookup', 'api-alias');
  c.docker(['network', 'disconnect', 'bridge', 'test2']);
  ex('test2', 'ip', 'a');
  ex('test2', 'cat', '/etc/hosts');
  c.docker(['inspect', '--format', '{{json .NetworkSettings}}', 'test2']);

  c.sec('7b. network prune');
  c.docker(['network', 'create', 'unused1']);
  c.docker(['network', 'create', 'unused2']);
  c.docker(['network', 'prune'], { input: 'n\n' });
  c.docker(['network', 'prune', '-f']);
  c.docker(['network', 'create', 'unused3']);
  await c.api('POST', '/networks/prune');
  await c.api('POST', '/networks/prune');
  c.docker(['network', 'ls']);

  c.sec('7c. network rm');
  c.docker(['network', 'create', 'rm1']);
  c.docker(['network', 'create', 'rm2']);
  c.docker(['network', 'rm', 'rm1', 'rm2']);
  c.docker(['network', 'create', 'rm3']);
  const id3 = val(c, '{{.Id}}', 'rm3');
  c.docker(['network', 'rm', id3.slice(0, 12)]);
  c.docker(['network', 'create', 'rm4']);
  c.docker(['network', 'rm', 'rm4', 'nosuch', 'bridge']);
  c.docker(['network', 'create', 'rm5']);
  await c.api('DELETE', '/networks/rm5');
  c.docker(['rm', '-f', 'test1', 'test2', 'test3', 'test6', 'test7', 'test8', 'test9']);
  c.docker(['network', 'rm', 'my-bridge', 'other-net', 'sub-net']);
  c.docker(['network', 'ls']);
  c.sec('7d. Host 1 after every container and user network is gone');
  hostState(c, true);
}

async function autoSubnets(c: Capture): Promise<void> {
  c.sec('4e. Automatic subnets: order, reuse, exhaustion');
  c.docker(['network', 'ls']);
  const subnet = (n: string) => val(c, '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}', n);
  const made: string[] = [];
  const summary: string[] = [];
  const create = (name: string): boolean => {
    const r = c.docker(['network', 'create', name]);
    if (r.status !== 0) return false;
    made.push(name);
    summary.push(`${name}: ${subnet(name)}`);
    return true;
  };
  create('a1');
  create('a2');
  create('a3');
  c.docker(['network', 'rm', 'a2']);
  made.splice(made.indexOf('a2'), 1);
  summary.push('(a2 removed)');
  create('a4');
  let n = 0;
  for (let i = 5; i <= 40; i++) {
    n = i;
    if (!create(`a${i}`)) break;
  }
  c.note('automatic subnets in creation order', summary.join('\n'));
  c.note(
    'user networks created before the failure',
    `${made.length} (docker0 holds 172.17.0.0/16)`,
  );
  await c.api('POST', '/networks/create', netBody(`a${n}-api`));
  c.docker(['network', 'create', '--subnet', '10.99.0.0/24', 'explicit-ok']);
  c.docker(['network', 'rm', 'explicit-ok']);
  c.docker(['network', 'rm', ...made]);
  c.sec('4f. Automatic subnets skip pools that overlap a route of the host');
  create('p1');
  const p1 = subnet('p1').split(' ')[0] ?? '';
  // Docker's default pools in its order; the next two after p1's (docker0's is in use).
  const free = DEFAULT_POOLS.filter((p) => p !== '172.17.0.0/16');
  const at = free.indexOf(p1);
  const [n1, n2] = [free[(at + 1) % free.length]!, free[(at + 2) % free.length]!];
  const inside = n2.replace(/\.0\/\d+$/, '.0/24');
  c.note(
    'next pools after p1',
    `${p1} -> ${n1} (route for all of it), ${n2} (route for ${inside} inside it)`,
  );
  c.ns('h1', ['ip', 'route', 'add', n1, 'via', '198.51.100.1']);
  c.ns('h1', ['ip', 'route', 'add', inside, 'via', '198.51.100.1']);
  create('p2');
  create('p3');
  c.note(`subnets with routes ${n1} and ${inside} present`, summary.slice(-3).join('\n'));
  c.ns('h1', ['ip', 'route']);
  c.docker(['network', 'rm', 'p1', 'p2', 'p3']);
  c.ns('h1', ['ip', 'route', 'del', n1]);
  c.ns('h1', ['ip', 'route', 'del', inside]);
  c.docker(['network', 'ls']);
}

/** libnetwork's default local pools, in allocation order: 172.17-31/16, then 192.168.0.0/16 in /20s. */
const DEFAULT_POOLS = [
  ...Array.from({ length: 15 }, (_, i) => `172.${17 + i}.0.0/16`),
  ...Array.from({ length: 16 }, (_, i) => `192.168.${i * 16}.0/20`),
];

/** The capture, in an order where each step finds what it needs. */
async function captureSteps(c: Capture): Promise<void> {
  await defaultBridge(c);
  await userNetworks(c);
  await errors(c);
  await disconnectPruneRm(c);
  await autoSubnets(c);
}

runCapture({
  name: 'capture-docker-networking',
  title: 'Docker 20.10 bridge networking: raw capture',
  hosts: 2,
  notes: [],
  steps: async ({ lab, cap, dockerd, spawn }) => {
    const h1 = lab.hosts[0]!;
    // A non-default uplink MTU shows whether dockerd inherits it (it is the
    // lab's own link; both ends so the link stays consistent).
    for (const [t, dev] of [
      [h1, 'eth0'],
      ['world', `${lab.name}-h1`],
    ] as const) {
      const r = lab.exec(t, ['ip', 'link', 'set', dev, 'mtu', '1450']);
      if (r.status !== 0) throw new Error(`setting MTU: ${r.stderr}`);
    }
    const www = join(lab.dir, 'www');
    mkdirSync(www, { recursive: true });
    writeFileSync(join(www, 'index.html'), 'hello from the world\n');
    const servers = [
      spawn('world', [
        'dnsmasq',
        ...['-k', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces'],
        ...[`--listen-address=${lab.world.ip}`, `--pid-file=${join(lab.dir, 'dnsmasq.pid')}`],
        ...['--user=root', '--log-queries', '--log-facility=-'],
        `--host-record=www.world.test,${lab.world.internetIp}`,
        '--address=/#/',
      ]),
      spawn('world', [
        'busybox',
        'httpd',
        '-f',
        '-vv',
        '-p',
        `${lab.world.internetIp}:80`,
        '-h',
        www,
      ]),
    ];
    const ref = await dockerd(0);
    console.log(`dockerd pid ${ref.pid} up on ${h1.name}`);
    await captureSteps(cap);
    cap.sec('World servers (dnsmasq log, httpd log)');
    for (const s of servers) {
      cap.note(s.child.spawnargs.slice(3).join(' '), s.output.join(''));
    }
  },
});
