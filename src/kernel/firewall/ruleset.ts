/**
 * Berth's nftables ruleset as command text (pure: no kernel, no I/O). The rules
 * are fixed; everything that varies per network or per published port is an
 * element of a hash set or map, so creating a network or publishing a port is
 * a few element updates however many exist, and attaching a container needs
 * none (docs/decisions/0007-nftables.md has the design). Every value that
 * reaches the text is validated and re-printed here first.
 */
import { invalid } from '../../common/errors.js';
import { formatIp, isUnspecified, parseIp } from './addr.js';

/** The table's family and name. */
export const TABLE = 'inet berth';
/** The user's chain: Berth jumps to it first from forward and never flushes it. */
export const USER_CHAIN = 'berth-user';
/**
 * The user's chain for what containers send to the host itself (decision
 * 0040): jumped to first for such packets; an `accept` there opens a host
 * service to containers. Never flushed.
 */
export const USER_INPUT_CHAIN = 'berth-user-input';
/** The chains Berth makes for the user and never flushes. */
export const USER_CHAINS = [USER_CHAIN, USER_INPUT_CHAIN] as const;

/** Transport protocols a port can be published for (Docker's set). */
export type Proto = 'tcp' | 'udp' | 'sctp';

/**
 * One Berth bridge network as the firewall sees it. No subnets: every rule
 * keys on interfaces, so a network is a few hash-set elements (see 0007).
 */
export interface BridgeSpec {
  /** The bridge interface's name (Linux rules, at most 15 bytes). */
  name: string;
  /** Containers on this bridge may reach each other (Docker's enable_icc). */
  icc: boolean;
  /** IPv4 traffic from the bridge leaving by another interface is masqueraded. */
  masquerade: boolean;
  /** The same for IPv6 (default off: Docker 20.10 does no IPv6 NAT). */
  masquerade6?: boolean;
  /** Nothing is forwarded into or out of this bridge (`--internal`). */
  internal: boolean;
}

/** One published port: host (address,) protocol and port to a container's address and port. */
export interface PortMapping {
  /** tcp, udp or sctp. */
  proto: Proto;
  /** Host address the port is published on; absent, 0.0.0.0 or :: mean all of them. */
  hostIp?: string;
  /** Host port, 1–65535. */
  hostPort: number;
  /** The container's address on its bridge (its family picks the IPv4 or IPv6 map). */
  containerIp: string;
  /** The port inside the container, 1–65535. */
  containerPort: number;
}

/**
 * A TCP endpoint of the cluster's control plane on another host (decision
 * 0040): an etcd member's client or peer URL, a host's Engine API at its
 * advertise address. Containers may not reach it through this host.
 */
export interface ControlEndpoint {
  ip: string;
  port: number;
}

/** Options of the base ruleset. */
export interface BaseOptions {
  /**
   * Verdict for forwarded traffic that touches no Berth bridge: 'drop' is what
   * Docker does (FORWARD policy DROP) when it turned forwarding on itself.
   * Default 'accept': other firewalls on the host decide about their traffic.
   */
  forwardOthers?: 'accept' | 'drop';
  /**
   * The packet mark bit that asks postrouting to masquerade a published-port
   * connection coming back into its own bridge (default 0x2000, the bit
   * netavark gives the same meaning). Set only between forward and
   * postrouting; the kernel clears marks when a packet enters a container.
   */
  hairpinMark?: number;
}

/** Default hairpin mark bit. */
export const HAIRPIN_MARK = 0x2000;

/**
 * The UDP port of every VXLAN device Berth makes (IANA's; the overlay driver
 * uses it). Containers on Berth's bridges may not send to it (decision 0025).
 */
export const VXLAN_PORT = 4789;

/** Sets and maps, and their nft definitions. */
export const SETS = {
  bridges: 'type ifname;',
  'same-bridge': 'type ifname . ifname;',
  icc: 'type ifname;',
  internal: 'type ifname;',
  masq4: 'type ifname;',
  masq6: 'type ifname;',
  control4: 'type ipv4_addr . inet_service;',
  control6: 'type ipv6_addr . inet_service;',
} as const;
export const MAPS = {
  ports4: 'type inet_proto . inet_service : ipv4_addr . inet_service;',
  'ports-addr4': 'type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service;',
  ports6: 'type inet_proto . inet_service : ipv6_addr . inet_service;',
  'ports-addr6': 'type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service;',
} as const;
/** The name of one of Berth's sets or maps. */
export type SetName = keyof typeof SETS | keyof typeof MAPS;
export const SET_NAMES = [...Object.keys(SETS), ...Object.keys(MAPS)] as SetName[];

/**
 * The rules, chain by chain. Regular chains come first so base chains can jump
 * to them; each is flushed and refilled in the same transaction, so no packet
 * ever sees a half-written chain.
 */
function chains(opts: BaseOptions): [name: string, hook: string | null, rules: string[]][] {
  const mark = `0x${checkMark(opts.hairpinMark ?? HAIRPIN_MARK)
    .toString(16)
    .padStart(8, '0')}`;
  return [
    [
      // Routed or bridged (br_netfilter) traffic that stays on one bridge.
      'intra',
      null,
      [
        // A published port reached from its own bridge: the answer must come
        // back through the host, so postrouting masquerades it.
        `ct status dnat meta mark set meta mark | ${mark} accept`,
        'ct state established,related accept',
        'iifname @icc accept',
        'drop',
      ],
    ],
    [
      'ports',
      null,
      [
        // A port published on one address wins over the same port on all of them.
        'dnat ip to ip daddr . meta l4proto . th dport map @ports-addr4',
        'dnat ip to meta l4proto . th dport map @ports4',
        'dnat ip6 to ip6 daddr . meta l4proto . th dport map @ports-addr6',
        'dnat ip6 to meta l4proto . th dport map @ports6',
      ],
    ],
    [
      // Bridges have route_localnet (published ports answer on 127.0.0.1),
      // so the host would take packets a container sends to 127.0.0.0/8 at
      // the gateway's MAC to its loopback-only services (CVE-2020-8558).
      // Dropped before conntrack and DNAT: no legitimate packet from a
      // container has a loopback destination then (answers to the host's
      // own connections to 127.0.0.1 still carry the gateway's address
      // until de-NAT at dstnat), and a port published on 127.0.0.1 stays
      // the host's, as in Docker.
      'raw-prerouting',
      'type filter hook prerouting priority raw; policy accept;',
      ['iifname @bridges ip daddr 127.0.0.0/8 drop', 'iifname @bridges ip6 daddr ::1 drop'],
    ],
    [
      // What a container sends to the host itself, at any of its addresses
      // (decision 0040): the host's services (the API on TCP, etcd, sshd…)
      // are not the containers'. Answers to the host's own connections,
      // ICMP (ping, path MTU, IPv6 neighbour discovery) and DNS (Berth's
      // resolver on the gateway, which answers only its own network's
      // containers, and a resolver the host's resolv.conf names) pass;
      // the rest is dropped, unless the user's chain accepts it.
      'to-host',
      null,
      [
        `jump ${USER_INPUT_CHAIN}`,
        'ct state established,related accept',
        'meta l4proto { icmp, ipv6-icmp } accept',
        'meta l4proto { tcp, udp } th dport 53 accept',
        'drop',
      ],
    ],
    [
      // The host's VXLAN sockets take frames into every overlay network from
      // any sender that knows a VNI: none from a container, whatever the
      // user's chain says (decision 0025).
      'input',
      'type filter hook input priority filter; policy accept;',
      [`iifname @bridges udp dport ${VXLAN_PORT} drop`, 'iifname @bridges goto to-host'],
    ],
    [
      'forward',
      'type filter hook forward priority filter; policy accept;',
      [
        `jump ${USER_CHAIN}`,
        'iifname . oifname @same-bridge goto intra',
        'iifname @internal drop',
        'oifname @internal drop',
        'oifname @bridges ct state established,related accept',
        'oifname @bridges ct status dnat accept',
        'iifname @bridges oifname @bridges drop',
        // Nor to other hosts' VXLAN sockets, through this one.
        `iifname @bridges udp dport ${VXLAN_PORT} drop`,
        // Nor to the cluster's control plane on other hosts (decision 0040).
        'iifname @bridges meta l4proto tcp ip daddr . th dport @control4 drop',
        'iifname @bridges meta l4proto tcp ip6 daddr . th dport @control6 drop',
        'iifname @bridges accept',
        'oifname @bridges drop',
        ...(opts.forwardOthers === 'drop' ? ['drop'] : []),
      ],
    ],
    [
      'prerouting',
      'type nat hook prerouting priority dstnat; policy accept;',
      ['fib daddr type local jump ports'],
    ],
    [
      'output',
      'type nat hook output priority -100; policy accept;',
      [
        // 127.0.0.1 too: bridges have route_localnet, and postrouting
        // masquerades what leaves a bridge from a loopback source.
        'meta nfproto ipv4 fib daddr type local jump ports',
        'ip6 daddr != ::1 fib daddr type local jump ports',
      ],
    ],
    [
      'postrouting',
      'type nat hook postrouting priority srcnat; policy accept;',
      [
        `meta mark & ${mark} == ${mark} masquerade`,
        'ip saddr 127.0.0.0/8 oifname @bridges masquerade',
        'iifname . oifname @same-bridge return',
        // The input interface is still known here for forwarded packets.
        'iifname @masq4 meta nfproto ipv4 masquerade',
        'iifname @masq6 meta nfproto ipv6 masquerade',
      ],
    ],
  ];
}

/**
 * How many rules each of Berth's chains has (the user chain: any number).
 * A dump that differs was edited by someone else, and ensureBase rewrites it.
 */
export function chainRuleCounts(opts: BaseOptions = {}): Record<string, number> {
  return Object.fromEntries(chains(opts).map(([name, , rules]) => [name, rules.length]));
}

/**
 * The idempotent base batch: creates what is missing, rewrites Berth's own
 * chains to exactly the rules above, and leaves every set element and the user
 * chains (with their rules) as they are.
 */
export function baseBatch(opts: BaseOptions = {}): string {
  const out = [`add table ${TABLE}`, ...USER_CHAINS.map((c) => `add chain ${TABLE} ${c}`)];
  for (const [name, def] of Object.entries(SETS)) out.push(`add set ${TABLE} ${name} { ${def} }`);
  for (const [name, def] of Object.entries(MAPS)) out.push(`add map ${TABLE} ${name} { ${def} }`);
  for (const [name, hook, rules] of chains(opts)) {
    out.push(hook ? `add chain ${TABLE} ${name} { ${hook} }` : `add chain ${TABLE} ${name}`);
    out.push(`flush chain ${TABLE} ${name}`);
    for (const r of rules) out.push(`add rule ${TABLE} ${name} ${r}`);
  }
  return out.join('\n') + '\n';
}

/** Removes Berth's table, the user chains included (uninstall, `lab clean`); missing is fine. */
export function destroyBatch(): string {
  return `add table ${TABLE}\ndelete table ${TABLE}\n`;
}

// ---- validation: everything below reaches command text only through these ----

/** Validates a Linux interface name strictly enough that it is inert inside nft quotes. */
export function checkIfname(name: string): string {
  // No '*' (an nft wildcard), quotes, backslashes, spaces, '/' or ':'.
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,15}$/.test(name) || /^\.\.?$/.test(name)) {
    throw invalid(`invalid bridge name: ${JSON.stringify(name)}`);
  }
  return name;
}

/** Validates a mark bit mask (non-zero 32-bit). */
export function checkMark(m: number): number {
  if (!Number.isInteger(m) || m <= 0 || m > 0xffffffff) {
    throw invalid(`invalid hairpin mark: ${JSON.stringify(m)}`);
  }
  return m;
}

/** Validates a port number (1–65535). */
export function checkPort(p: number, what = 'port'): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) {
    throw invalid(`invalid ${what}: ${JSON.stringify(p)}`);
  }
  return p;
}

/** Validates a protocol name. */
export function checkProto(p: string): Proto {
  if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') {
    throw invalid(`invalid protocol: ${JSON.stringify(p)}`);
  }
  return p;
}

// ---- elements ----

/** One element of a set or map in canonical nft text (the same text a dump parses to). */
export interface Element {
  /** The set or map it belongs to. */
  set: SetName;
  /** The key, e.g. `"br-1a2b" . "br-1a2b"` or `tcp . 8080`. */
  key: string;
  /** A map element's data, e.g. `172.17.0.2 . 80`. */
  value?: string;
}

const q = (name: string): string => `"${checkIfname(name)}"`;

/** The elements one bridge contributes, and the ones it must not have (so adds converge). */
export function bridgeElements(spec: BridgeSpec): { present: Element[]; absent: Element[] } {
  const name = q(spec.name);
  const present: Element[] = [
    { set: 'bridges', key: name },
    { set: 'same-bridge', key: `${name} . ${name}` },
  ];
  const absent: Element[] = [];
  (spec.icc ? present : absent).push({ set: 'icc', key: name });
  (spec.internal ? present : absent).push({ set: 'internal', key: name });
  // Docker gives internal networks no NAT at all.
  (spec.masquerade && !spec.internal ? present : absent).push({ set: 'masq4', key: name });
  (spec.masquerade6 && !spec.internal ? present : absent).push({ set: 'masq6', key: name });
  return { present, absent };
}

/** The map element of one published port. */
export function portElement(m: PortMapping): Element {
  const proto = checkProto(m.proto);
  const hostPort = checkPort(m.hostPort, 'host port');
  const cport = checkPort(m.containerPort, 'container port');
  const cip = parseIp(m.containerIp, 'container address');
  const host = m.hostIp === undefined || m.hostIp === '' ? undefined : parseIp(m.hostIp, 'host IP');
  if (host && host.family !== cip.family) {
    throw invalid(`host IP ${m.hostIp} and container address ${m.containerIp} differ in family`);
  }
  const v = cip.family === 4 ? '4' : '6';
  const value = `${formatIp(cip)} . ${cport}`;
  if (!host || isUnspecified(host)) {
    return { set: `ports${v}`, key: `${proto} . ${hostPort}`, value };
  }
  return { set: `ports-addr${v}`, key: `${formatIp(host)} . ${proto} . ${hostPort}`, value };
}

/** The set element of one control-plane endpoint. */
export function controlElement(c: ControlEndpoint): Element {
  const ip = parseIp(c.ip, 'control-plane address');
  const port = checkPort(c.port, 'control-plane port');
  return { set: ip.family === 4 ? 'control4' : 'control6', key: `${formatIp(ip)} . ${port}` };
}

/** `add element` for each element. */
export function addCommands(els: Element[]): string[] {
  return els.map(
    (e) => `add element ${TABLE} ${e.set} { ${e.key}${e.value ? ` : ${e.value}` : ''} }`,
  );
}

/** `delete element` for each element (fails if one is missing). */
export function deleteCommands(els: Element[]): string[] {
  return els.map((e) => `delete element ${TABLE} ${e.set} { ${e.key} }`);
}

/**
 * Removes elements whether or not they exist: adding first makes the delete
 * valid, and both happen in one transaction (nft 1.0.6 has no `destroy`).
 */
export function ensureAbsentCommands(els: Element[]): string[] {
  return els.flatMap((e) => [...addCommands([e]), ...deleteCommands([e])]);
}

const batch = (lines: string[]): string => lines.join('\n') + '\n';

/** Adds a bridge's elements; idempotent, and converges icc/internal/masquerade. */
export function addBridgeBatch(spec: BridgeSpec): string {
  const { present, absent } = bridgeElements(spec);
  return batch([...addCommands(present), ...ensureAbsentCommands(absent)]);
}

/** Removes every element a bridge may have, whatever its options were; idempotent. */
export function removeBridgeBatch(name: string): string {
  // With every option on, present + absent covers every set a bridge can be in.
  const { present, absent } = bridgeElements({
    name,
    icc: true,
    internal: true,
    masquerade: true,
    masquerade6: true,
  });
  return batch(ensureAbsentCommands([...present, ...absent]));
}

/** One or many as a list. */
export const listOf = <T>(x: T | readonly T[]): readonly T[] =>
  Array.isArray(x) ? (x as readonly T[]) : [x as T];

/** Publishes ports (one transaction); idempotent; CONFLICT (EEXIST) if a host port maps elsewhere. */
export function addPortBatch(m: PortMapping | readonly PortMapping[]): string {
  return batch(addCommands(listOf(m).map(portElement)));
}

/** Unpublishes ports (one transaction); idempotent; CONFLICT (EEXIST) if a host port maps elsewhere. */
export function removePortBatch(m: PortMapping | readonly PortMapping[]): string {
  return batch(ensureAbsentCommands(listOf(m).map(portElement)));
}

/**
 * Adds control-plane endpoints and removes others (one transaction, validated
 * before anything runs; idempotent both ways): a change costs its size, not
 * the cluster's.
 */
export function controlBatch(
  add: readonly ControlEndpoint[],
  remove: readonly ControlEndpoint[],
): string {
  return batch([
    ...addCommands(add.map(controlElement)),
    ...ensureAbsentCommands(remove.map(controlElement)),
  ]);
}
