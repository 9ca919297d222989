/**
 * Captures what a real Docker 20.10 (Debian docker.io) does for IPv6 and
 * dual-stack bridge networks, so Berth is built against observed behaviour:
 * `network create --ipv6` forms and their errors, the bridge's addresses,
 * sysctls and firewall rules, containers' addresses, routes, inspect fields,
 * /etc/hosts, the embedded DNS's AAAA answers, IPv6 traffic between
 * containers and to the lab world (NAT or not, routed or not), published ports
 * on a dual-stack network with and without the userland proxy, and the default
 * bridge with `--ipv6 --fixed-cidr-v6`. Writes a markdown transcript and the
 * same as JSON; docs/reference/docker-20.10-ipv6.md is distilled from it.
 *
 *   node dist/bench/capture-docker-ipv6.js [--out DIR]
 *
 * The lab has 4 hosts, all given an IPv6 address on their uplink
 * (2001:db8:100::1N/64, default route via the world's 2001:db8:100::1; the
 * world also keeps 198.51.100.1 and runs dnsmasq, the daemons' --dns, with
 * A and AAAA records for www.world.test). Pass [proxy]: dockerd with default
 * flags in host 1, every step. Pass [no-proxy]: a fresh dockerd with
 * `--userland-proxy=false` in host 2, the published-ports step. Pass
 * [ipv6-daemon]: dockerd `--ipv6 --fixed-cidr-v6 fd00:9::/64` in host 3, the
 * default bridge. Host 4 runs nothing: the baseline for sysctls. One dockerd
 * runs at a time. All traffic goes to addresses inside the lab's namespaces.
 * Everything is removed in `finally`, and the machine's own namespace is
 * compared before and after.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Lab, LabHost } from '../src/lab/lab.js';
import { run } from '../src/lab/proc.js';
import {
  CLI_2010,
  Capture,
  cliNote,
  httpGet,
  lineDiff,
  old,
  ruleLines,
  labProcess,
  stopLabProcess,
  sysctlDiff,
  val,
  type Where,
} from './lib/capture.js';
import { runCapture } from './lib/capture-run.js';

const LOOP = ['sh', '-c', 'while true; do sleep 3600; done'];
const SLEEP = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** busybox httpd on 80 in the foreground, logging each client, serving "hello from NAME". */
const serve = (name: string) => [
  'sh',
  '-c',
  `mkdir -p /www && echo "hello from ${name}" > /www/index.html; exec httpd -f -vv -p 80 -h /www`,
];

/** The lab's IPv6 addressing (documentation prefix, only inside the lab). */
const WORLD6 = '2001:db8:100::1';
const host6 = (i: number) => `2001:db8:100::1${i}`;
const PREFIX6 = 64;
const BASELINE: Where = 'h4';

/** One dockerd pass. */
interface Mode {
  tag: string;
  host: LabHost;
  where: Where;
  /** The host's IPv6 address on its uplink. */
  ip6: string;
  pid: number;
}

/** `docker exec` of argv in a container, recorded. */
function ex(c: Capture, ctr: string, ...argv: string[]) {
  return c.docker(['exec', ctr, ...argv]);
}

/** iptables-save, ip6tables-save and nft list ruleset of a host, recorded. */
function firewall(c: Capture, where: Where): { v4: string[]; v6: string[]; nft: string[] } {
  return {
    v4: ruleLines(c.ns(where, ['iptables-save']).stdout),
    v6: ruleLines(c.ns(where, ['ip6tables-save']).stdout),
    nft: c
      .ns(where, ['nft', 'list', 'ruleset'])
      .stdout.split('\n')
      .map((l) => l.trimEnd()),
  };
}

function firewallDiff(
  c: Capture,
  what: string,
  a: ReturnType<typeof firewall>,
  b: ReturnType<typeof firewall>,
): void {
  lineDiff(c, `iptables-save difference: ${what}`, a.v4, b.v4);
  lineDiff(c, `ip6tables-save difference: ${what}`, a.v6, b.v6);
  lineDiff(c, `nft list ruleset difference (lines): ${what}`, a.nft, b.nft);
}

/** The bridge of a user network (`br-` + 12 hex of its ID). */
function bridgeOf(c: Capture, net: string): string {
  const id = c.docker(['network', 'inspect', '--format', '{{.Id}}', net], { quiet: true });
  return `br-${id.stdout.trim().slice(0, 12)}`;
}

/** The bridge's addresses, its IPv6 sysctls, the host's v6 routes. */
function bridgeState(c: Capture, where: Where, br: string): void {
  c.ns(where, ['ip', 'addr', 'show', 'dev', br]);
  c.ns(where, ['ip', '-6', 'addr', 'show', 'dev', br]);
  c.ns(where, [
    'sh',
    '-c',
    `for k in disable_ipv6 accept_ra forwarding autoconf addr_gen_mode; do echo "net.ipv6.conf.${br}.$k = $(cat /proc/sys/net/ipv6/conf/${br}/$k)"; done`,
  ]);
  c.ns(where, ['ip', '-6', 'route']);
}

/** IPv6 sysctls of the host, recorded. */
function v6sysctls(c: Capture, where: Where): void {
  c.ns(where, [
    'sysctl',
    'net.ipv6.conf.all.forwarding',
    'net.ipv6.conf.default.forwarding',
    'net.ipv6.conf.all.disable_ipv6',
    'net.ipv6.conf.default.disable_ipv6',
    'net.ipv6.conf.eth0.forwarding',
    'net.ipv6.conf.eth0.accept_ra',
    'net.ipv4.ip_forward',
  ]);
}

/** Everything a container shows about its own IPv6 (ip, hosts, resolv.conf, sysctls). */
function insideView(c: Capture, ctr: string): void {
  ex(c, ctr, 'ip', 'addr');
  ex(c, ctr, 'ip', '-6', 'addr');
  ex(c, ctr, 'ip', '-6', 'route');
  ex(c, ctr, 'ip', 'route');
  ex(c, ctr, 'cat', '/etc/hosts');
  ex(c, ctr, 'cat', '/etc/resolv.conf');
  ex(
    c,
    ctr,
    'sh',
    '-c',
    'for f in /proc/sys/net/ipv6/conf/*/disable_ipv6 /proc/sys/net/ipv6/conf/*/accept_ra /proc/sys/net/ipv6/conf/all/forwarding; do echo "$f $(cat $f)"; done',
  );
}

/** docker inspect's network views of a container (CLI and API). */
async function ctrNetView(c: Capture, ctr: string): Promise<void> {
  c.docker(['inspect', '--format', '{{json .NetworkSettings.Networks}}', ctr]);
  await c.api('GET', `/containers/${ctr}/json`, undefined, 'NetworkSettings');
}

/** The address of `ctr` on `net` in the given family (CLI inspect, not recorded). */
function addrOn(c: Capture, ctr: string, net: string, v6 = true): string {
  const f = v6 ? 'GlobalIPv6Address' : 'IPAddress';
  return val(c, `{{(index .NetworkSettings.Networks "${net}").${f}}}`, ctr);
}

/** One ping (ping6 for IPv6 literals) from a container, summarised into `out`. */
function ping(c: Capture, ctr: string, target: string, out: string[], args: string[] = []): void {
  const prog = args.length ? 'ping' : target.includes(':') ? 'ping6' : 'ping';
  const r = ex(c, ctr, prog, ...args, '-c1', '-W2', target);
  const first = (r.stdout.split('\n')[0] ?? '').trim();
  out.push(
    `container ${ctr}: ${[prog, ...args, target].join(' ')} → exit ${r.status} (${first || r.stderr.trim().split('\n')[0]})`,
  );
}

/** The reverse-lookup (PTR) name of an IPv6 address. */
function ip6arpa(addr: string): string {
  const [head = '', tail = ''] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = addr.includes('::')
    ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
    : h;
  const hex = groups.map((g) => g.padStart(4, '0')).join('');
  return [...hex].reverse().join('.') + '.ip6.arpa';
}

/** A DNS client run in a container's network namespace (node + dns-packet), printing the reply. */
const DNSQ_SRC = `'use strict';
// dnsq NAME TYPE [SERVER]: one UDP query (RD set), prints rcode, flags and every record.
const dp = require(process.env.DNS_PACKET);
const [name, type, server = '127.0.0.11'] = process.argv.slice(2);
const s = require('dgram').createSocket(server.includes(':') ? 'udp6' : 'udp4');
const rr = (a) => [a.name, a.type, a.ttl, typeof a.data === 'object' ? JSON.stringify(a.data) : a.data].join(' ');
s.on('message', (m) => {
  const r = dp.decode(m);
  const flags = ['qr', 'aa', 'tc', 'rd', 'ra'].filter((f) => r.flags & dp[{ qr: 'QR', aa: 'AUTHORITATIVE_ANSWER', tc: 'TRUNCATED_RESPONSE', rd: 'RECURSION_DESIRED', ra: 'RECURSION_AVAILABLE' }[f]] || (f === 'qr' && r.type === 'response'));
  console.log('rcode ' + r.rcode + ', flags ' + flags.join(' ') + ', answers ' + r.answers.length + ', authorities ' + r.authorities.length);
  for (const a of r.answers) console.log('answer: ' + rr(a));
  for (const a of r.authorities) console.log('authority: ' + rr(a));
  process.exit(0);
});
s.send(dp.encode({ type: 'query', id: 4242, flags: dp.RECURSION_DESIRED, questions: [{ type, name }] }), 53, server);
setTimeout(() => { console.log('no answer within 4 s'); process.exit(2); }, 4000);
`;

/** A raw DNS query to the embedded DNS from inside a container's netns; returns nothing. */
function dnsq(c: Capture, where: Where, ctr: string, name: string, type: string): void {
  const pid = val(c, '{{.State.Pid}}', ctr);
  c.ns(where, ['nsenter', `--net=/proc/${pid}/ns/net`, 'node', dnsqFile, name, type]);
}
let dnsqFile = '';

/** docker run -d with both CLIs (NAME, NAME-old); what is left behind; removed. */
function cliRunCase(c: Capture, what: string, name: string, opts: string[]): void {
  c.heading(`CLI: ${what}`);
  for (const [n, bin] of [
    [name, undefined],
    [`${name}-old`, CLI_2010],
  ] as const) {
    const r = c.docker(['run', '-d', '--name', n, ...opts, 'busybox', ...LOOP], { bin });
    const left = c.docker(['ps', '-aq', '--filter', `name=^${n}$`], { quiet: true }).stdout.trim();
    if (left) {
      c.docker([
        'inspect',
        '--format',
        'Status={{.State.Status}} Error={{json .State.Error}} Networks={{json .NetworkSettings.Networks}}',
        n,
      ]);
      if (r.status === 0) ex(c, n, 'ip', '-6', 'addr', 'show', 'dev', 'eth0');
      c.docker(['rm', '-f', n], { quiet: true });
    } else {
      c.note(`container ${n}`, 'not created (docker ps -a has no such name)');
    }
  }
}

/** The same through the API: create with EndpointsConfig, start, state, delete. */
async function apiRunCase(
  c: Capture,
  what: string,
  name: string,
  net: string,
  ipam: Record<string, string>,
): Promise<void> {
  c.heading(`API: ${what}`);
  const r = await c.api('POST', `/containers/create?name=${name}`, {
    Image: 'busybox',
    Cmd: LOOP,
    HostConfig: { NetworkMode: net },
    NetworkingConfig: { EndpointsConfig: { [net]: { IPAMConfig: ipam } } },
  });
  const id = (r.json as { Id?: string } | undefined)?.Id;
  if (r.status !== 201 || !id) return;
  await c.api('POST', `/containers/${id}/start`);
  await c.api('GET', `/containers/${id}/json`, undefined, [
    'State.Status',
    'State.Error',
    `NetworkSettings.Networks.${net}`,
  ]);
  await c.api('DELETE', `/containers/${id}?force=1`);
}

/**
 * `docker network create` with both CLIs and the same through the API; each
 * network that got created is inspected (unless `keep`, removed again).
 */
async function netCase(
  c: Capture,
  what: string,
  name: string,
  opts: string[],
  body: Record<string, unknown>,
): Promise<void> {
  c.heading(what);
  for (const bin of [undefined, CLI_2010]) {
    const r = c.docker(['network', 'create', ...opts, name], { bin });
    if (r.status === 0) {
      c.docker(['network', 'inspect', name]);
      c.docker(['network', 'rm', name], { quiet: true });
    }
  }
  const r = await c.api('POST', '/networks/create', { Name: `${name}-api`, ...body });
  if (r.status === 201) {
    await c.api('GET', `/networks/${name}-api`, undefined, ['EnableIPv6', 'IPAM']);
    await c.api('DELETE', `/networks/${name}-api`);
  }
}

/** The IPAM part of a network-create body, as the CLI sends it. */
const ipamBody = (config: Record<string, string>[], enableIPv6 = true) => ({
  CheckDuplicate: true,
  Driver: 'bridge',
  EnableIPv6: enableIPv6,
  IPAM: { Driver: 'default', Options: {}, Config: config },
  Options: {},
  Labels: {},
});

async function sectionOne(c: Capture, m: Mode): Promise<void> {
  const H = m.where;
  c.sec(`${m.tag} 1. network create --ipv6 --subnet fd00:1::/64 v6a (only a v6 subnet)`);
  v6sysctls(c, H);
  sysctlDiff(c, H, BASELINE);
  const before = firewall(c, H);
  c.ns(H, ['ip', '-6', 'route']);
  c.docker(['network', 'create', '--ipv6', '--subnet', 'fd00:1::/64', 'v6a']);
  c.docker(['network', 'inspect', 'v6a']);
  await c.api('GET', '/networks/v6a', undefined, ['EnableIPv6', 'IPAM']);
  old(c, ['network', 'ls']);
  const br = bridgeOf(c, 'v6a');
  await SLEEP(2500);
  bridgeState(c, H, br);
  c.ns(H, ['ip', 'addr']);
  v6sysctls(c, H);
  sysctlDiff(c, H, BASELINE);
  const after = firewall(c, H);
  firewallDiff(c, 'after creating v6a, vs. before', before, after);
}

async function sectionTwo(c: Capture, m: Mode): Promise<void> {
  const H = m.where;
  c.sec(`${m.tag} 2a. Other network-create forms and errors`);
  c.heading('dual stack, explicit subnets and gateways (v6b, kept)');
  const b4 = firewall(c, H);
  c.docker([
    'network',
    'create',
    '--ipv6',
    '--subnet',
    '172.30.0.0/16',
    '--subnet',
    'fd00:2::/64',
    '--gateway',
    '172.30.0.254',
    '--gateway',
    'fd00:2::fe',
    'v6b',
  ]);
  c.docker(['network', 'inspect', 'v6b']);
  const brb = bridgeOf(c, 'v6b');
  await SLEEP(2000);
  bridgeState(c, H, brb);
  firewallDiff(c, 'after creating v6b, vs. before', b4, firewall(c, H));
  c.docker(['run', '-d', '--name', 'b1', '--network', 'v6b', 'busybox', ...LOOP]);
  await SLEEP(1500);
  ex(c, 'b1', 'ip', 'addr', 'show', 'dev', 'eth0');
  ex(c, 'b1', 'ip', '-6', 'route');
  ex(c, 'b1', 'ip', 'route');
  c.docker(['inspect', '--format', '{{json .NetworkSettings.Networks}}', 'b1']);

  await netCase(
    c,
    'dual stack, explicit subnets, no gateways',
    'v6dual',
    ['--ipv6', '--subnet', '10.40.0.0/24', '--subnet', 'fd00:40::/64'],
    ipamBody([{ Subnet: '10.40.0.0/24' }, { Subnet: 'fd00:40::/64' }]),
  );
  await netCase(
    c,
    'dual stack, the IPv6 subnet given first',
    'v6first',
    ['--ipv6', '--subnet', 'fd00:41::/64', '--subnet', '10.41.0.0/24'],
    ipamBody([{ Subnet: 'fd00:41::/64' }, { Subnet: '10.41.0.0/24' }]),
  );
  await netCase(c, '--ipv6 without any subnet', 'v6none', ['--ipv6'], {
    ...ipamBody([]),
  });
  await netCase(
    c,
    '--ipv6 with only an IPv4 subnet',
    'v6only4',
    ['--ipv6', '--subnet', '10.42.0.0/24'],
    ipamBody([{ Subnet: '10.42.0.0/24' }]),
  );
  await netCase(
    c,
    'overlapping IPv6 subnet: identical to v6a (fd00:1::/64)',
    'v6dup',
    ['--ipv6', '--subnet', 'fd00:1::/64'],
    ipamBody([{ Subnet: 'fd00:1::/64' }]),
  );
  await netCase(
    c,
    'overlapping IPv6 subnet: fd00:1::/48 contains v6a',
    'v6sup',
    ['--ipv6', '--subnet', 'fd00:1::/48'],
    ipamBody([{ Subnet: 'fd00:1::/48' }]),
  );
  await netCase(
    c,
    'overlapping IPv6 subnet: fd00:1::/80 inside v6a',
    'v6sub',
    ['--ipv6', '--subnet', 'fd00:1::/80'],
    ipamBody([{ Subnet: 'fd00:1::/80' }]),
  );
  await netCase(
    c,
    'overlapping IPv4 subnet, for comparison: 172.30.0.0/16 as v6b',
    'v4dup',
    ['--subnet', '172.30.0.0/16'],
    ipamBody([{ Subnet: '172.30.0.0/16' }], false),
  );
  await netCase(
    c,
    'IPv6 gateway outside the subnet',
    'v6gw',
    ['--ipv6', '--subnet', 'fd00:5::/64', '--gateway', 'fd00:6::1'],
    ipamBody([{ Subnet: 'fd00:5::/64', Gateway: 'fd00:6::1' }]),
  );
  await netCase(
    c,
    'IPv6 gateway = the subnet address (fd00:5::)',
    'v6gw0',
    ['--ipv6', '--subnet', 'fd00:5::/64', '--gateway', 'fd00:5::'],
    ipamBody([{ Subnet: 'fd00:5::/64', Gateway: 'fd00:5::' }]),
  );
  await netCase(
    c,
    'IPv6 subnet with host bits set (fd00:5::1/64)',
    'v6host',
    ['--ipv6', '--subnet', 'fd00:5::1/64'],
    ipamBody([{ Subnet: 'fd00:5::1/64' }]),
  );
  await netCase(
    c,
    'IPv6 subnet /127',
    'v6tiny',
    ['--ipv6', '--subnet', 'fd00:5::/127'],
    ipamBody([{ Subnet: 'fd00:5::/127' }]),
  );
  await netCase(
    c,
    'invalid IPv6 subnet (fd00:5::/129)',
    'v6bad',
    ['--ipv6', '--subnet', 'fd00:5::/129'],
    ipamBody([{ Subnet: 'fd00:5::/129' }]),
  );
  await netCase(
    c,
    'two IPv6 subnets',
    'v6two',
    ['--ipv6', '--subnet', 'fd00:42::/64', '--subnet', 'fd00:43::/64'],
    ipamBody([{ Subnet: 'fd00:42::/64' }, { Subnet: 'fd00:43::/64' }]),
  );
  await netCase(
    c,
    '--ip-range outside the IPv6 subnet',
    'v6rng',
    ['--ipv6', '--subnet', 'fd00:44::/64', '--ip-range', 'fd00:45::/80'],
    ipamBody([{ Subnet: 'fd00:44::/64', IPRange: 'fd00:45::/80' }]),
  );

  c.heading('an IPv6 subnet without --ipv6 (v6noflag, kept)');
  const b5 = firewall(c, H);
  c.docker(['network', 'create', '--subnet', 'fd00:4::/64', 'v6noflag']);
  c.docker(['network', 'inspect', 'v6noflag']);
  const brn = bridgeOf(c, 'v6noflag');
  await SLEEP(1500);
  bridgeState(c, H, brn);
  firewallDiff(c, 'after creating v6noflag, vs. before', b5, firewall(c, H));
  c.docker(['run', '-d', '--name', 'n1', '--network', 'v6noflag', 'busybox', ...LOOP]);
  await SLEEP(1000);
  ex(c, 'n1', 'ip', 'addr');
  ex(c, 'n1', 'ip', 'route');
  ex(c, 'n1', 'ip', '-6', 'route');
  ex(c, 'n1', 'cat', '/etc/hosts');
  await ctrNetView(c, 'n1');
  c.docker(['network', 'inspect', '--format', '{{json .Containers}}', 'v6noflag']);

  c.heading('--ipv6 --subnet fd00:3::/64 --ip-range fd00:3::/80 (v6r, kept)');
  c.docker([
    'network',
    'create',
    '--ipv6',
    '--subnet',
    'fd00:3::/64',
    '--ip-range',
    'fd00:3::/80',
    'v6r',
  ]);
  c.docker(['network', 'inspect', '--format', '{{json .IPAM}}', 'v6r']);
  for (const n of ['r1', 'r2']) {
    c.docker(['run', '-d', '--name', n, '--network', 'v6r', 'busybox', ...LOOP]);
  }
  c.docker(['network', 'inspect', '--format', '{{json .Containers}}', 'v6r']);
  c.ns(H, ['ip', '-6', 'addr', 'show', 'dev', bridgeOf(c, 'v6r')]);
  c.docker(['inspect', '--format', '{{json .NetworkSettings.Networks.v6r}}', 'r1']);
  c.heading('--ipv6 --subnet fd00:3a::/64 --ip-range fd00:3a::100/120 (v6r2, kept)');
  c.docker([
    'network',
    'create',
    '--ipv6',
    '--subnet',
    'fd00:3a::/64',
    '--ip-range',
    'fd00:3a::100/120',
    'v6r2',
  ]);
  c.docker(['network', 'inspect', '--format', '{{json .IPAM}}', 'v6r2']);
  for (const n of ['r3', 'r4']) {
    c.docker(['run', '-d', '--name', n, '--network', 'v6r2', 'busybox', ...LOOP]);
  }
  c.docker(['network', 'inspect', '--format', '{{json .Containers}}', 'v6r2']);
  c.ns(H, ['ip', '-6', 'addr', 'show', 'dev', bridgeOf(c, 'v6r2')]);
  c.docker(['inspect', '--format', '{{json .NetworkSettings.Networks.v6r2}}', 'r3']);
  ex(c, 'r3', 'ip', '-6', 'route');
  c.docker(['rm', '-f', 'r1', 'r2', 'r3', 'r4']);
  c.docker(['network', 'rm', 'v6r', 'v6r2']);

  c.heading('plain networks for the --ip6 cases (v4only with a subnet, v4auto without)');
  c.docker(['network', 'create', '--subnet', '10.43.0.0/24', 'v4only']);
  c.docker(['network', 'create', 'v4auto']);
  sysctlDiff(c, H, BASELINE);

  c.sec(`${m.tag} 2b. --ip6 on run and connect`);
  c.heading('docker run --rm --network v6a --ip6 fd00:1::99 busybox ip -6 addr');
  c.docker([
    'run',
    '--rm',
    '--network',
    'v6a',
    '--ip6',
    'fd00:1::99',
    'busybox',
    'ip',
    '-6',
    'addr',
  ]);
  c.heading('the same kept running (ip6a)');
  c.docker([
    'run',
    '-d',
    '--name',
    'ip6a',
    '--network',
    'v6a',
    '--ip6',
    'fd00:1::99',
    'busybox',
    ...LOOP,
  ]);
  await SLEEP(500);
  ex(c, 'ip6a', 'ip', 'addr', 'show', 'dev', 'eth0');
  c.docker(['inspect', '--format', '{{json .NetworkSettings.Networks}}', 'ip6a']);
  c.docker(['inspect', '--format', '{{json .HostConfig.NetworkMode}}', 'ip6a']);
  c.heading('network connect --ip6 fd00:2::99 v6b ip6a');
  c.docker(['network', 'connect', '--ip6', 'fd00:2::99', 'v6b', 'ip6a']);
  ex(c, 'ip6a', 'ip', '-6', 'addr');
  ex(c, 'ip6a', 'ip', '-6', 'route');
  c.docker(['inspect', '--format', '{{json .NetworkSettings.Networks.v6b}}', 'ip6a']);
  c.heading(
    'network connect --ip 172.30.0.50 --ip6 fd00:2::50 v6b (created container ip6b on v4auto)',
  );
  c.docker(['create', '--name', 'ip6b', '--network', 'v4auto', 'busybox', ...LOOP]);
  c.docker(['network', 'connect', '--ip', '172.30.0.50', '--ip6', 'fd00:2::50', 'v6b', 'ip6b']);
  c.docker(['start', 'ip6b']);
  ex(c, 'ip6b', 'ip', 'addr', 'show', 'dev', 'eth0');
  c.docker(['rm', '-f', 'ip6b']);

  c.sec(`${m.tag} 2c. --ip6 errors`);
  cliRunCase(c, '--ip6 already in use (fd00:1::99 held by ip6a)', 'e6-used', [
    '--network',
    'v6a',
    '--ip6',
    'fd00:1::99',
  ]);
  await apiRunCase(c, 'IPv6Address already in use', 'e6-used-api', 'v6a', {
    IPv6Address: 'fd00:1::99',
  });
  cliRunCase(c, '--ip6 outside the subnet (fd00:9::5 on v6a)', 'e6-out', [
    '--network',
    'v6a',
    '--ip6',
    'fd00:9::5',
  ]);
  await apiRunCase(c, 'IPv6Address outside the subnet', 'e6-out-api', 'v6a', {
    IPv6Address: 'fd00:9::5',
  });
  cliRunCase(c, '--ip6 on a network without IPv6 but with a subnet (v4only)', 'e6-v4', [
    '--network',
    'v4only',
    '--ip6',
    'fd00:1::5',
  ]);
  await apiRunCase(c, 'IPv6Address on v4only', 'e6-v4-api', 'v4only', {
    IPv6Address: 'fd00:1::5',
  });
  cliRunCase(c, '--ip6 on a network without IPv6 and without --subnet (v4auto)', 'e6-auto', [
    '--network',
    'v4auto',
    '--ip6',
    'fd00:1::5',
  ]);
  await apiRunCase(c, 'IPv6Address on v4auto', 'e6-auto-api', 'v4auto', {
    IPv6Address: 'fd00:1::5',
  });
  cliRunCase(c, '--ip6 on the default bridge', 'e6-br', ['--ip6', 'fd00:1::5']);
  await apiRunCase(c, 'IPv6Address on the default bridge', 'e6-br-api', 'bridge', {
    IPv6Address: 'fd00:1::5',
  });
  cliRunCase(c, '--ip6 on the IPv6-subnet network created without --ipv6 (v6noflag)', 'e6-nf', [
    '--network',
    'v6noflag',
    '--ip6',
    'fd00:4::5',
  ]);
  cliRunCase(c, '--ip6 the gateway address (fd00:1::1)', 'e6-gw', [
    '--network',
    'v6a',
    '--ip6',
    'fd00:1::1',
  ]);
  cliRunCase(c, '--ip6 abc', 'e6-abc', ['--network', 'v6a', '--ip6', 'abc']);
  await apiRunCase(c, 'IPv6Address "abc"', 'e6-abc-api', 'v6a', { IPv6Address: 'abc' });
  cliRunCase(c, '--ip6 with an IPv4 address (172.30.0.9)', 'e6-4', [
    '--network',
    'v6a',
    '--ip6',
    '172.30.0.9',
  ]);
  cliRunCase(c, '--ip with an IPv6 address (fd00:1::9)', 'e6-ip', [
    '--network',
    'v6a',
    '--ip',
    'fd00:1::9',
  ]);
  c.heading('network connect --ip6 errors');
  c.docker(['run', '-d', '--name', 'plain', 'busybox', ...LOOP]);
  c.docker(['network', 'connect', '--ip6', 'fd00:1::99', 'v6a', 'plain']);
  old(c, ['network', 'connect', '--ip6', 'fd00:1::99', 'v6a', 'plain']);
  await c.api('POST', '/networks/v6a/connect', {
    Container: 'plain',
    EndpointConfig: { IPAMConfig: { IPv6Address: 'fd00:1::99' } },
  });
  c.docker(['network', 'connect', '--ip6', 'fd00:9::5', 'v6a', 'plain']);
  await c.api('POST', '/networks/v6a/connect', {
    Container: 'plain',
    EndpointConfig: { IPAMConfig: { IPv6Address: 'fd00:9::5' } },
  });
  c.docker(['network', 'connect', '--ip6', 'fd00:1::5', 'v4only', 'plain']);
  await c.api('POST', '/networks/v4only/connect', {
    Container: 'plain',
    EndpointConfig: { IPAMConfig: { IPv6Address: 'fd00:1::5' } },
  });
  c.docker(['network', 'connect', '--ip6', 'fd00:1::5', 'v4auto', 'plain']);
  c.docker(['network', 'connect', 'v6a', 'plain']);
  ex(c, 'plain', 'ip', '-6', 'addr');
  ex(c, 'plain', 'ip', '-6', 'route');
  ex(c, 'plain', 'cat', '/etc/hosts');
  c.docker(['inspect', '--format', '{{json .NetworkSettings.Networks}}', 'plain']);
  c.docker(['rm', '-f', 'plain', 'ip6a', 'b1', 'n1']);
  await leakCase(c);
}

/**
 * Does a start or connect that fails on its IPv6 address give back the IPv4
 * address it had already taken? Probes on a fresh dual-stack network show
 * which IPv4 address the next container gets.
 */
async function leakCase(c: Capture): Promise<void> {
  c.heading('IPv4 addresses after failed --ip6 starts and connects (network leak6)');
  c.docker([
    'network',
    'create',
    '--ipv6',
    '--subnet',
    '10.50.0.0/24',
    '--subnet',
    'fd00:50::/64',
    'leak6',
  ]);
  const probe = (n: string) => {
    c.docker(['run', '-d', '--name', n, '--network', 'leak6', 'busybox', ...LOOP]);
    c.docker([
      'inspect',
      '--format',
      '{{.Name}} {{.NetworkSettings.Networks.leak6.IPAddress}} {{.NetworkSettings.Networks.leak6.GlobalIPv6Address}}',
      n,
    ]);
  };
  probe('p1');
  c.docker(['rm', '-f', 'p1']);
  probe('p2');
  c.heading('one failed start: --ip6 outside the subnet (then docker rm)');
  c.docker([
    'run',
    '-d',
    '--name',
    'lf1',
    '--network',
    'leak6',
    '--ip6',
    'fd00:51::5',
    'busybox',
    ...LOOP,
  ]);
  c.docker(['rm', '-f', 'lf1']);
  probe('p3');
  c.heading("one failed start: --ip6 in use (p2's address)");
  c.docker([
    'run',
    '-d',
    '--name',
    'lf2',
    '--network',
    'leak6',
    '--ip6',
    'fd00:50::2',
    'busybox',
    ...LOOP,
  ]);
  probe('p4');
  c.docker(['rm', '-f', 'lf2']);
  probe('p5');
  c.heading('one failed connect: --ip6 in use');
  c.docker(['run', '-d', '--name', 'lc', 'busybox', ...LOOP]);
  c.docker(['network', 'connect', '--ip6', 'fd00:50::2', 'leak6', 'lc']);
  probe('p6');
  c.heading('a failed --ip (IPv4 in use) with a free --ip6: is the IPv6 address kept?');
  c.docker([
    'run',
    '-d',
    '--name',
    'lf3',
    '--network',
    'leak6',
    '--ip',
    '10.50.0.2',
    '--ip6',
    'fd00:50::77',
    'busybox',
    ...LOOP,
  ]);
  c.docker(['rm', '-f', 'lf3']);
  c.docker([
    'run',
    '-d',
    '--name',
    'lf4',
    '--network',
    'leak6',
    '--ip6',
    'fd00:50::77',
    'busybox',
    ...LOOP,
  ]);
  c.docker(['network', 'inspect', '--format', '{{json .Containers}}', 'leak6']);
  c.docker(['rm', '-f', 'p2', 'p3', 'p4', 'p5', 'p6', 'lc', 'lf4']);
  c.docker(['network', 'rm', 'leak6']);
  c.docker([
    'network',
    'create',
    '--ipv6',
    '--subnet',
    '10.50.0.0/24',
    '--subnet',
    'fd00:50::/64',
    'leak6',
  ]);
  probe('p7');
  c.docker(['rm', '-f', 'p7']);
  c.docker(['network', 'rm', 'leak6']);
}

async function sectionThree(c: Capture, m: Mode): Promise<Record<string, string>> {
  const H = m.where;
  c.sec(`${m.tag} 3. Containers on v6a`);
  const fw = firewall(c, H);
  c.docker(['run', '-d', '--name', 'c1', '--network', 'v6a', 'busybox', ...LOOP]);
  c.docker(['run', '-d', '--name', 'c2', '--network', 'v6a', 'busybox', ...LOOP]);
  c.docker([
    'run',
    '-d',
    '--name',
    'c3',
    '--network',
    'v6a',
    '--network-alias',
    'svc',
    '--hostname',
    'c3host',
    'busybox',
    ...LOOP,
  ]);
  await SLEEP(2500);
  c.docker(['run', '--rm', '--network', 'v6a', 'busybox', 'ip', '-6', 'addr']);
  insideView(c, 'c1');
  ex(c, 'c2', 'ip', '-6', 'addr', 'show', 'dev', 'eth0');
  ex(c, 'c3', 'cat', '/etc/hosts');
  await ctrNetView(c, 'c1');
  c.docker(['inspect', '--format', '{{json .NetworkSettings.Networks.v6a}}', 'c2']);
  c.docker(['network', 'inspect', 'v6a']);
  const a: Record<string, string> = {
    c1: addrOn(c, 'c1', 'v6a'),
    c2: addrOn(c, 'c2', 'v6a'),
    c3: addrOn(c, 'c3', 'v6a'),
    c2v4: addrOn(c, 'c2', 'v6a', false),
  };
  const br = bridgeOf(c, 'v6a');
  bridgeState(c, H, br);
  c.ns(H, ['ip', '-6', 'neigh']);
  c.ns(H, ['bridge', 'link']);
  firewallDiff(c, 'with c1–c3 on v6a, vs. before them', fw, firewall(c, H));
  sysctlDiff(c, H, BASELINE);

  c.heading('ping between containers');
  const out: string[] = [];
  ping(c, 'c1', a.c2!, out);
  ping(c, 'c1', 'c2', out);
  ping(c, 'c1', 'c2', out, ['-6']);
  ping(c, 'c1', 'c2', out, ['-4']);
  ping(c, 'c1', 'c2.v6a', out, ['-6']);
  ping(c, 'c1', 'svc', out, ['-6']);
  ping(c, 'c1', 'fd00:1::1', out);
  const ll = c.docker(['exec', 'c2', 'ip', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'], {
    quiet: true,
  });
  const llAddr = /inet6 (fe80::[0-9a-f:]+)\//.exec(ll.stdout)?.[1];
  if (llAddr) ping(c, 'c1', `${llAddr}%eth0`, out);
  c.note('pings on v6a', out.join('\n'));

  c.heading('name resolution (busybox nslookup)');
  ex(c, 'c1', 'nslookup', 'c2');
  ex(c, 'c1', 'nslookup', '-type=a', 'c2');
  ex(c, 'c1', 'nslookup', '-type=aaaa', 'c2');
  ex(c, 'c1', 'nslookup', '-type=aaaa', 'c2', '127.0.0.11');
  ex(c, 'c1', 'nslookup', '-type=aaaa', 'c2.v6a');
  ex(c, 'c1', 'nslookup', '-type=aaaa', 'svc');
  ex(c, 'c1', 'nslookup', '-type=aaaa', 'c3host');
  ex(c, 'c1', 'nslookup', a.c2!);
  ex(c, 'c1', 'nslookup', '-type=ptr', ip6arpa(a.c2!));
  ex(c, 'c1', 'nslookup', '-type=aaaa', 'www.world.test');
  ex(c, 'c1', 'nslookup', 'www.world.test');

  c.heading("raw DNS answers of the embedded DNS (node + dns-packet in c1's netns)");
  c.note('dnsq.cjs (run with DNS_PACKET=<dns-packet>)', DNSQ_SRC);
  for (const [n, t] of [
    ['c2', 'A'],
    ['c2', 'AAAA'],
    ['c2.v6a', 'AAAA'],
    ['svc', 'AAAA'],
    ['c3host', 'AAAA'],
    ['C2', 'AAAA'],
    [ip6arpa(a.c2!), 'PTR'],
    [ip6arpa('fd00:1::77'), 'PTR'],
    ['c2', 'ANY'],
    ['c2', 'MX'],
    ['www.world.test', 'AAAA'],
    ['nosuch', 'AAAA'],
  ] as const) {
    dnsq(c, H, 'c1', n, t);
  }

  c.heading('AAAA for a container on a network without IPv6 (v4only: d1 asks for d2)');
  c.docker(['run', '-d', '--name', 'd1', '--network', 'v4only', 'busybox', ...LOOP]);
  c.docker(['run', '-d', '--name', 'd2', '--network', 'v4only', 'busybox', ...LOOP]);
  ex(c, 'd1', 'nslookup', '-type=aaaa', 'd2');
  ex(c, 'd1', 'nslookup', 'd2');
  dnsq(c, H, 'd1', 'd2', 'AAAA');
  dnsq(c, H, 'd1', 'd2', 'A');
  ex(c, 'd1', 'cat', '/etc/hosts');
  ex(c, 'd1', 'ip', '-6', 'addr');
  ex(
    c,
    'd1',
    'sh',
    '-c',
    'for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo "$f $(cat $f)"; done',
  );
  c.heading('a container on the default bridge (no IPv6)');
  c.docker(['run', '-d', '--name', 'd0', 'busybox', ...LOOP]);
  ex(c, 'd0', 'ip', 'addr');
  ex(c, 'd0', 'cat', '/etc/hosts');
  ex(
    c,
    'd0',
    'sh',
    '-c',
    'for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo "$f $(cat $f)"; done',
  );
  c.docker(['rm', '-f', 'd0', 'd1', 'd2']);

  c.heading("c2 on v6a connected to v6b as well: what c1 gets for c2 (AAAA) and c2's routes");
  c.docker(['network', 'connect', 'v6b', 'c2']);
  ex(c, 'c2', 'ip', '-6', 'route');
  ex(c, 'c2', 'ip', 'route');
  ex(c, 'c2', 'cat', '/etc/hosts');
  dnsq(c, H, 'c1', 'c2', 'AAAA');
  c.docker(['network', 'disconnect', 'v6b', 'c2']);
  return a;
}

async function sectionFour(c: Capture, m: Mode, a: Record<string, string>): Promise<void> {
  const H = m.where;
  c.sec(`${m.tag} 4. Outbound and inbound IPv6 between v6a and the lab world`);
  c.ns('world', ['ip', '-6', 'addr', 'show', 'dev', 'br0']);
  c.ns('world', ['ip', '-6', 'route']);
  c.ns(H, ['ip', '-6', 'route']);
  c.ns(H, ['ip6tables', '-S']);
  c.ns(H, ['ip6tables', '-t', 'nat', '-S']);
  v6sysctls(c, H);
  c.heading('what arrives in the world: an nft set of IPv6 source addresses (world namespace)');
  const nft = (args: string[]) => c.ns('world', ['nft', ...args]);
  nft(['add', 'table', 'ip6', 'cap']);
  nft(['add', 'chain', 'ip6', 'cap', 'in', '{ type filter hook input priority 0; }']);
  nft(['add', 'set', 'ip6', 'cap', 'srcs', '{ type ipv6_addr; flags dynamic; }']);
  nft([
    'add',
    'rule',
    'ip6',
    'cap',
    'in',
    'ip6',
    'daddr',
    WORLD6,
    'meta',
    'l4proto',
    '{ icmpv6, tcp }',
    'add',
    '@srcs',
    '{ ip6 saddr }',
    'counter',
  ]);
  const out: string[] = [];
  c.heading('1) the world has no route to fd00:1::/64');
  ping(c, 'c1', WORLD6, out);
  ping(c, 'c1', host6(m.host.index), out);
  ping(c, 'c1', 'fd00:1::1', out);
  nft(['list', 'table', 'ip6', 'cap']);
  c.heading('2) the world routes fd00:1::/64 via the host');
  c.ns('world', ['ip', '-6', 'route', 'replace', 'fd00:1::/64', 'via', m.ip6]);
  ping(c, 'c1', WORLD6, out);
  nft(['list', 'table', 'ip6', 'cap']);
  const server = labProcess(c.lab, 'world', [
    'node',
    '-e',
    "require('net').createServer((s)=>{console.log('world tcp 9090: connection from '+s.remoteAddress+' port '+s.remotePort);s.end('hello from world\\n')}).listen(9090,'::')",
  ]);
  try {
    await SLEEP(700);
    const r = ex(c, 'c1', 'sh', '-c', `echo hi | timeout 8 nc -w 3 ${WORLD6} 9090`);
    out.push(`container c1 → [${WORLD6}]:9090/tcp: exit ${r.status} (${r.stdout.trim()})`);
    const r4 = ex(c, 'c1', 'sh', '-c', `echo hi | timeout 8 nc -w 3 ${c.lab.world.ip} 9090`);
    out.push(`container c1 → ${c.lab.world.ip}:9090/tcp: exit ${r4.status} (${r4.stdout.trim()})`);
    await SLEEP(300);
  } finally {
    await stopLabProcess(server);
  }
  c.note('world TCP server output', server.output.join(''));
  c.heading('inbound from the world to a container (httpd web6 on v6a)');
  c.docker(['run', '-d', '--name', 'web6', '--network', 'v6a', 'busybox', ...serve('web6')]);
  await SLEEP(1500);
  const web6 = addrOn(c, 'web6', 'v6a');
  const web4 = addrOn(c, 'web6', 'v6a', false);
  httpGet(c, { ns: 'world' }, web6, 80, out);
  httpGet(c, { ns: H }, web6, 80, out);
  httpGet(c, { ctr: 'c1' }, web6, 80, out);
  httpGet(c, { ns: 'world' }, web4, 80, out);
  c.ns('world', ['busybox', 'ping6', '-c1', '-W2', a.c1!]);
  c.heading('between networks: c1 (v6a) to b2 (v6b) by IPv6 and by IPv4');
  c.docker(['run', '-d', '--name', 'b2', '--network', 'v6b', 'busybox', ...serve('b2')]);
  await SLEEP(1500);
  const b26 = addrOn(c, 'b2', 'v6b');
  const b24 = addrOn(c, 'b2', 'v6b', false);
  ping(c, 'c1', b26, out);
  ping(c, 'c1', b24, out);
  httpGet(c, { ctr: 'c1' }, b26, 80, out);
  httpGet(c, { ctr: 'c1' }, b24, 80, out);
  ping(c, 'c1', 'fd00:2::fe', out);
  c.heading('an --internal IPv6 network (v6int, fd00:7::/64; the world routes it too)');
  c.docker(['network', 'create', '--internal', '--ipv6', '--subnet', 'fd00:7::/64', 'v6int']);
  c.docker(['network', 'inspect', '--format', '{{json .IPAM}} internal={{.Internal}}', 'v6int']);
  c.ns('world', ['ip', '-6', 'route', 'replace', 'fd00:7::/64', 'via', m.ip6]);
  c.docker(['run', '-d', '--name', 'i1', '--network', 'v6int', 'busybox', ...LOOP]);
  await SLEEP(1500);
  ex(c, 'i1', 'ip', '-6', 'addr', 'show', 'dev', 'eth0');
  ex(c, 'i1', 'ip', '-6', 'route');
  ex(c, 'i1', 'ip', 'route');
  bridgeState(c, H, bridgeOf(c, 'v6int'));
  ping(c, 'i1', WORLD6, out);
  ping(c, 'i1', 'fd00:7::1', out);
  ping(c, 'i1', a.c1!, out);
  ping(c, 'i1', c.lab.world.ip, out);
  httpGet(c, { ctr: 'i1' }, web6, 80, out);
  c.ns('world', ['busybox', 'ping6', '-c1', '-W2', addrOn(c, 'i1', 'v6int')]);
  nft(['list', 'table', 'ip6', 'cap']);
  c.note('IPv6 traffic between v6a, other networks and the world', out.join('\n'));
  c.ns(H, ['ip6tables-save']);
  c.ns(H, ['ip6tables', '-L', '-n', '-v']);
  c.ns(H, ['ip', '-6', 'route']);
  c.docker(['rm', '-f', 'i1', 'b2', 'web6']);
  c.docker(['network', 'rm', 'v6int']);
  c.ns('world', ['ip', '-6', 'route', 'del', 'fd00:7::/64']);
  c.ns('world', ['ip', '-6', 'route', 'del', 'fd00:1::/64']);
  nft(['delete', 'table', 'ip6', 'cap']);
}

/** Published ports on a dual-stack network (both passes). */
async function sectionFive(c: Capture, m: Mode): Promise<void> {
  const H = m.where;
  c.sec(`${m.tag} 5. Published ports on v6a: run -d -p 8080:80 --network v6a (pub)`);
  const fw = firewall(c, H);
  c.docker([
    'run',
    '-d',
    '--name',
    'pub',
    '-p',
    '8080:80',
    '--network',
    'v6a',
    'busybox',
    ...serve('pub'),
  ]);
  c.docker([
    'run',
    '-d',
    '--name',
    'pub6',
    '-p',
    '[::]:8081:80',
    '-p',
    '[::1]:8082:80',
    '--network',
    'v6a',
    'busybox',
    ...serve('pub6'),
  ]);
  await SLEEP(2000);
  for (const n of ['pub', 'pub6']) {
    c.docker(['port', n]);
    old(c, ['port', n]);
    c.docker(['ps', '--filter', `name=^${n}$`, '--format', '{{.Names}} {{.Ports}}']);
    old(c, ['ps', '--filter', `name=^${n}$`, '--format', '{{.Names}} {{.Ports}}']);
    c.docker([
      'inspect',
      '--format',
      '{{json .NetworkSettings.Ports}} {{json .HostConfig.PortBindings}}',
      n,
    ]);
  }
  c.ns(H, ['ps', '--ppid', String(m.pid), '-o', 'pid,args']);
  c.ns(H, ['ss', '-lntp']);
  const fw2 = firewall(c, H);
  firewallDiff(c, 'with pub and pub6 running, vs. before', fw, fw2);
  const ip6 = m.ip6;
  const ip4 = m.host.ip;
  const pub6 = addrOn(c, 'pub', 'v6a');
  const pub4 = addrOn(c, 'pub', 'v6a', false);
  c.note('addresses', `pub ${pub4} ${pub6}\nhost ${ip4} ${ip6}\nworld ${c.lab.world.ip} ${WORLD6}`);
  c.docker(['run', '-d', '--name', 'cl', '--network', 'v6a', 'busybox', ...LOOP]);
  await SLEEP(1000);
  const out: string[] = [];
  httpGet(c, { ns: H }, ip4, 8080, out);
  httpGet(c, { ns: H }, '127.0.0.1', 8080, out);
  httpGet(c, { ns: H }, '::1', 8080, out);
  httpGet(c, { ns: H }, ip6, 8080, out);
  httpGet(c, { ns: H }, 'fd00:1::1', 8080, out);
  httpGet(c, { ns: H }, pub6, 80, out);
  httpGet(c, { ns: 'world' }, ip4, 8080, out);
  httpGet(c, { ns: 'world' }, ip6, 8080, out);
  httpGet(c, { ctr: 'cl' }, ip6, 8080, out);
  httpGet(c, { ctr: 'cl' }, 'fd00:1::1', 8080, out);
  httpGet(c, { ctr: 'cl' }, ip4, 8080, out);
  httpGet(c, { ctr: 'pub' }, ip6, 8080, out);
  httpGet(c, { ns: H }, '::1', 8081, out);
  httpGet(c, { ns: H }, ip6, 8081, out);
  httpGet(c, { ns: H }, '127.0.0.1', 8081, out);
  httpGet(c, { ns: 'world' }, ip6, 8081, out);
  httpGet(c, { ns: H }, '::1', 8082, out);
  c.heading('the world routes fd00:1::/64 via the host: direct to the container, port 80');
  c.ns('world', ['ip', '-6', 'route', 'replace', 'fd00:1::/64', 'via', ip6]);
  httpGet(c, { ns: 'world' }, pub6, 80, out);
  httpGet(c, { ns: 'world' }, pub6, 8080, out);
  c.ns('world', ['ip', '-6', 'route', 'del', 'fd00:1::/64']);
  c.note(
    `reachability of pub (-p 8080:80) and pub6 (-p [::]:8081:80 -p [::1]:8082:80)`,
    out.join('\n'),
  );
  c.docker(['logs', 'pub']);
  c.docker(['rm', '-f', 'pub', 'pub6', 'cl']);
}

async function sectionSix(c: Capture, m: Mode): Promise<void> {
  const H = m.where;
  c.sec(`${m.tag} 6. The default bridge with dockerd --ipv6 --fixed-cidr-v6 fd00:9::/64`);
  c.docker(['network', 'inspect', 'bridge']);
  await c.api('GET', '/networks/bridge', undefined, ['EnableIPv6', 'IPAM', 'Options']);
  await SLEEP(1500);
  bridgeState(c, H, 'docker0');
  v6sysctls(c, H);
  sysctlDiff(c, H, BASELINE);
  firewall(c, H);
  c.docker(['run', '-d', '--name', 'e1', 'busybox', ...LOOP]);
  c.docker(['run', '-d', '--name', 'e2', '-p', '8080:80', 'busybox', ...serve('e2')]);
  await SLEEP(2000);
  insideView(c, 'e1');
  await ctrNetView(c, 'e1');
  c.docker(['inspect', '--format', '{{json .NetworkSettings.Networks.bridge}}', 'e2']);
  c.docker(['network', 'inspect', '--format', '{{json .Containers}}', 'bridge']);
  const e2 = val(c, '{{.NetworkSettings.GlobalIPv6Address}}', 'e2');
  const out: string[] = [];
  ping(c, 'e1', e2, out);
  ping(c, 'e1', 'e2', out, ['-6']);
  ping(c, 'e1', 'fd00:9::1', out);
  c.ns('world', ['ip', '-6', 'route', 'replace', 'fd00:9::/64', 'via', m.ip6]);
  ping(c, 'e1', WORLD6, out);
  httpGet(c, { ns: 'world' }, e2, 80, out);
  c.docker(['port', 'e2']);
  c.ns(H, ['ps', '--ppid', String(m.pid), '-o', 'pid,args']);
  httpGet(c, { ns: H }, '::1', 8080, out);
  httpGet(c, { ns: H }, m.ip6, 8080, out);
  httpGet(c, { ns: 'world' }, m.ip6, 8080, out);
  c.note('IPv6 on the default bridge', out.join('\n'));
  c.ns('world', ['ip', '-6', 'route', 'del', 'fd00:9::/64']);
  c.ns(H, ['ip6tables-save']);
  c.ns(H, ['ip', '-6', 'route']);
  c.docker(['rm', '-f', 'e1', 'e2']);
  c.heading(
    'a user network on this daemon: --ipv6 with no subnet, and --ipv6 --subnet fd00:1::/64',
  );
  c.docker(['network', 'create', '--ipv6', 'auto6']);
  c.docker(['network', 'create', '--ipv6', '--subnet', 'fd00:9::/64', 'clash6']);
  c.docker(['network', 'create', '--ipv6', '--subnet', 'fd00:1::/64', 'v6a']);
  c.docker(['network', 'inspect', '--format', '{{json .IPAM}}', 'v6a']);
  c.docker(['network', 'rm', 'v6a']);
}

/** dockerd's log lines that mention IPv6 or warn. */
function daemonLog(c: Capture, m: Mode): void {
  const r = run([
    'grep',
    '-iE',
    'ipv6|ip6|level=warn|level=error',
    join(m.host.dir, 'dockerd.log'),
  ]);
  c.note(
    `dockerd log (${m.host.name}): lines mentioning ipv6/ip6, warnings and errors`,
    r.stdout
      .split('\n')
      .filter((l) => !/containerd|plugin/.test(l) || /ipv6/i.test(l))
      .slice(0, 80)
      .join('\n'),
  );
}

/** The lab's IPv6: the world's br0 and each host's eth0, plus a default route. */
function labIPv6(c: Capture, lab: Lab): void {
  c.sec("0. The lab's IPv6 addressing (made by this script, inside the lab only)");
  c.ns('world', ['ip', '-6', 'addr', 'add', `${WORLD6}/${PREFIX6}`, 'dev', 'br0', 'nodad']);
  for (const h of lab.hosts) {
    const w = `h${h.index}` as Where;
    c.ns(w, ['ip', '-6', 'addr', 'add', `${host6(h.index)}/${PREFIX6}`, 'dev', 'eth0', 'nodad']);
    c.ns(w, ['ip', '-6', 'route', 'add', 'default', 'via', WORLD6]);
  }
  c.ns('h1', ['ip', 'addr']);
  c.ns('h1', ['ip', '-6', 'route']);
  c.ns('h1', ['busybox', 'ping6', '-c1', '-W2', WORLD6]);
  v6sysctls(c, 'h1');
  c.ns('h1', ['ip6tables-save']);
}

runCapture({
  name: 'capture-docker-ipv6',
  title: 'Docker 20.10 IPv6 and dual-stack bridge networks: raw capture',
  hosts: 4,
  notes: [
    cliNote(),
    `lab IPv6: world br0 ${WORLD6}/${PREFIX6}, host N eth0 2001:db8:100::1N/${PREFIX6} (default via ${WORLD6})`,
  ],
  steps: async ({ lab, cap, dockerd, stopDockerd, spawn }) => {
    dnsqFile = join(lab.dir, 'dnsq.cjs');
    writeFileSync(dnsqFile, DNSQ_SRC);
    process.env.DNS_PACKET = createRequire(import.meta.url).resolve('dns-packet');
    labIPv6(cap, lab);
    const servers = [
      spawn('world', [
        'dnsmasq',
        ...['-k', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces'],
        ...[`--listen-address=${lab.world.ip}`, `--pid-file=${join(lab.dir, 'dnsmasq.pid')}`],
        ...['--user=root', '--log-queries', '--log-facility=-'],
        `--host-record=www.world.test,${lab.world.internetIp},${WORLD6}`,
      ]),
    ];
    const passes: [string, number, string[], (c: Capture, m: Mode) => Promise<void>][] = [
      [
        '[proxy]',
        0,
        [],
        async (c, m) => {
          await sectionOne(c, m);
          await sectionTwo(c, m);
          const a = await sectionThree(c, m);
          await sectionFour(c, m, a);
          await sectionFive(c, m);
          c.sec(`${m.tag} 7. All user networks removed: does IPv6 forwarding stay on?`);
          const left = c.docker(['ps', '-aq'], { quiet: true }).stdout.split('\n').filter(Boolean);
          if (left.length) c.docker(['rm', '-f', ...left], { quiet: true });
          c.docker(['network', 'rm', 'v6a', 'v6b', 'v6noflag', 'v4only', 'v4auto']);
          c.docker(['network', 'ls']);
          v6sysctls(c, m.where);
          c.ns(m.where, ['ip', '-6', 'route']);
        },
      ],
      [
        '[no-proxy]',
        1,
        ['--userland-proxy=false'],
        async (c, m) => {
          c.sec(`${m.tag} 1. network create --ipv6 --subnet fd00:1::/64 v6a`);
          c.docker(['network', 'create', '--ipv6', '--subnet', 'fd00:1::/64', 'v6a']);
          await sectionFive(c, m);
        },
      ],
      ['[ipv6-daemon]', 2, ['--ipv6', '--fixed-cidr-v6', 'fd00:9::/64'], sectionSix],
    ];
    for (const [tag, i, args, steps] of passes) {
      const host = lab.hosts[i]!;
      const where = `h${i + 1}` as Where;
      const ref = await dockerd(i, args);
      console.log(
        `${tag} dockerd pid ${ref.pid} up in ${host.name} (${args.join(' ') || 'defaults'})`,
      );
      cap.sec(`${tag} dockerd`);
      cap.note(
        'dockerd command line',
        `${ref.pid}: ${args.length ? args.join(' ') : '(default flags)'} in ${host.name} (${host.ip}, ${host6(host.index)})`,
      );
      const m: Mode = { tag, host, where, ip6: host6(host.index), pid: ref.pid };
      try {
        await steps(cap, m);
      } finally {
        daemonLog(cap, m);
      }
      const all = cap.docker(['ps', '-aq'], { quiet: true }).stdout.split('\n').filter(Boolean);
      if (all.length) cap.docker(['rm', '-f', ...all], { quiet: true });
      await stopDockerd();
    }
    cap.sec('World servers (dnsmasq log)');
    for (const s of servers) cap.note(s.child.spawnargs.slice(3).join(' '), s.output.join(''));
  },
});
