/**
 * The kernel side of `berth network trace` (decision 0033): one probe packet
 * sent from a namespace, traced by nftables. A temporary table of Berth's
 * own (`berth-trace-<hex>`, in the inet and bridge families) sets `meta
 * nftrace 1` at a very early priority only for the probe (its destination,
 * protocol and a source port / echo id no other socket has), `nft monitor
 * trace` prints what each chain did with it, and the tables are deleted
 * afterwards; a daemon that died meanwhile deletes them at its next start
 * (`sweepTraceTables`). Nothing else is changed. Also: the route the
 * source namespace picks (`ip route get`) and the destination's listening
 * sockets (/proc/net/tcp, udp), both read inside the namespaces.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { run, watchLines } from '../process/run.js';
import {
  AF_INET,
  bindSocket,
  closeFd,
  connectSocket,
  inNetns,
  openSocket,
  sendBytes,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SOCK_STREAM,
  sockaddrIn,
} from '../sys/libc.js';
import { Nftables } from './libnftables.js';
import { VXLAN_PORT } from './ruleset.js';

/** Every trace table's name starts with this (the start-up sweep looks for it). */
export const TRACE_PREFIX = 'berth-trace-';

export type ProbeProto = 'tcp' | 'udp' | 'icmp';

export interface ProbeSpec {
  /** The source's namespace file; absent: the daemon's (the host's) own. */
  netns?: string;
  /** IPv4 destination. */
  dst: string;
  proto: ProbeProto;
  /** Destination port (tcp, udp). */
  port?: number;
  /**
   * The destination is behind an overlay network's VXLAN device: its
   * namespace (where br0 carries the frame to vxlan0) and VNI (what the
   * encapsulated packet in the host's namespace is told by).
   */
  overlay?: { netns: string; vni: number };
}

export interface ProbeResult {
  /** The trace table's name. */
  table: string;
  /** The probe's source port (tcp, udp) or echo id (icmp). */
  tag: number;
  /** `nft monitor trace` output lines. */
  lines: string[];
  /** With `overlay`: the lines of the monitor in the overlay network's namespace. */
  overlayLines?: string[];
}

const IPPROTO_ICMP = 1;

/** An ICMP echo request with `id`, checksummed. */
function echoRequest(id: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(8, 0);
  b.writeUInt16BE(id, 4);
  b.writeUInt16BE(1, 6);
  b.write('berthtrc', 8, 'latin1');
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += b.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  b.writeUInt16BE(~sum & 0xffff, 2);
  return b;
}

/** The probe's first packet, by protocol and tag. */
function probeMatch(spec: ProbeSpec, tag: number): string {
  return spec.proto === 'icmp'
    ? `icmp type echo-request icmp id ${tag}`
    : spec.proto === 'tcp'
      ? `tcp sport ${tag} tcp flags & (syn | ack) == syn`
      : `udp sport ${tag}`;
}

/**
 * The nft batch that adds the trace tables for one probe. Only its first
 * packet is traced (a TCP SYN, the UDP datagram, the echo request): at the
 * hooks a packet enters by (prerouting, output) by its destination as sent,
 * at the later ones (forward, input, postrouting) by protocol and tag only,
 * as NAT may have rewritten the destination by then — and a routed packet
 * from a bridge does not always keep its trace flag from prerouting to
 * forward (br_netfilter hands it up the stack again).
 */
export function traceBatch(table: string, spec: ProbeSpec, tag: number): string {
  const probe = probeMatch(spec, tag);
  const out: string[] = [];
  const outer = spec.overlay ? vxlanMatch(spec, tag) : undefined;
  const hooksOf = {
    inet: ['prerouting', 'output', 'forward', 'input', 'postrouting'],
    bridge: ['prerouting'],
  };
  for (const [family, hooks] of Object.entries(hooksOf)) {
    out.push(`add table ${family} ${table}`);
    for (const hook of hooks) {
      const first = hook === 'prerouting' || hook === 'output';
      out.push(
        `add chain ${family} ${table} ${hook} { type filter hook ${hook} priority -400; policy accept; }`,
      );
      out.push(
        `add rule ${family} ${table} ${hook} ${first ? `ip daddr ${spec.dst} ` : 'meta nfproto ipv4 '}${probe} meta nftrace set 1`,
      );
      if (outer && family === 'inet' && (hook === 'output' || hook === 'postrouting')) {
        out.push(`add rule inet ${table} ${hook} ${outer} meta nftrace set 1`);
      }
    }
  }
  return out.join('\n') + '\n';
}

/**
 * The probe inside a VXLAN packet (an overlay destination), by raw offsets
 * from the outer UDP header: the VNI (bits 96-119, after UDP's 8 bytes and
 * the VXLAN flags), then the inner frame from byte 16: Ethernet 14 bytes,
 * IPv4 (no options: the probe's own) with its protocol at byte 39 and
 * destination at 46, the inner transport header at byte 50 (its source port,
 * or the echo's type and id).
 */
export function vxlanMatch(spec: ProbeSpec, tag: number): string {
  const vni = spec.overlay?.vni ?? 0;
  const daddr = spec.dst.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const proto = spec.proto === 'icmp' ? 1 : spec.proto === 'tcp' ? 6 : 17;
  const l4 = spec.proto === 'icmp' ? `@th,400,8 8 @th,432,16 ${tag}` : `@th,400,16 ${tag}`;
  return (
    `udp dport ${VXLAN_PORT} @th,96,24 ${vni} @th,312,8 ${proto} ` +
    `@th,368,32 0x${daddr.toString(16).padStart(8, '0')} ${l4}`
  );
}

/**
 * The nft batch for the overlay network's namespace: a bridge-family table
 * tracing the probe's frame through br0 (in from the container's veth, out
 * to vxlan0) at prerouting, forward and postrouting.
 */
export function overlayBatch(table: string, spec: ProbeSpec, tag: number): string {
  const probe = probeMatch(spec, tag);
  const out = [`add table bridge ${table}`];
  for (const hook of ['prerouting', 'forward', 'postrouting']) {
    out.push(
      `add chain bridge ${table} ${hook} { type filter hook ${hook} priority -400; policy accept; }`,
      `add rule bridge ${table} ${hook} ip daddr ${spec.dst} ${probe} meta nftrace set 1`,
    );
  }
  return out.join('\n') + '\n';
}

/** Sends the probe from the namespace; the socket is closed after `holdMs`. */
function sendProbe(spec: ProbeSpec, tag: number): number {
  const open = (): number => {
    if (spec.proto === 'icmp') {
      const fd = openSocket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
      try {
        connectSocket(fd, sockaddrIn(spec.dst, 0));
        sendBytes(fd, echoRequest(tag));
      } catch (e) {
        closeFd(fd);
        throw e;
      }
      return fd;
    }
    const type = spec.proto === 'tcp' ? SOCK_STREAM : SOCK_DGRAM;
    const fd = openSocket(AF_INET, type | SOCK_NONBLOCK, 0);
    try {
      bindSocket(fd, sockaddrIn('0.0.0.0', tag));
      connectSocket(fd, sockaddrIn(spec.dst, spec.port ?? 0));
      if (spec.proto === 'udp') sendBytes(fd, Buffer.from('berth trace probe\n'));
    } catch (e) {
      closeFd(fd);
      throw e;
    }
    return fd;
  };
  return spec.netns ? inNetns(spec.netns, open) : open();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Traces one probe: starts the monitor, adds the tables, sends, waits,
 * and always deletes the tables and stops the monitor.
 */
export async function traceProbe(
  nft: Nftables,
  spec: ProbeSpec,
  opts: {
    nftBin?: string;
    settleMs?: number;
    waitMs?: number;
    /** Called with the probe's tag once the tables are in, before it is sent. */
    beforeSend?: (tag: number) => Promise<void>;
  } = {},
): Promise<ProbeResult> {
  const table = TRACE_PREFIX + randomBytes(4).toString('hex');
  const tag = randomInt(40000, 60000);
  const nftBin = opts.nftBin ?? 'nft';
  const monitor = watchLines([nftBin, 'monitor', 'trace']);
  // An overlay's frame crosses br0 in the network's namespace: traced there too.
  const ov = spec.overlay;
  const ovMonitor = ov
    ? watchLines(['nsenter', `--net=${ov.netns}`, '--', nftBin, 'monitor', 'trace'])
    : undefined;
  let ovNft: Nftables | undefined;
  let fd = -1;
  try {
    // The monitor subscribes to trace events when it starts; give it that moment.
    await sleep(opts.settleMs ?? 300);
    if (ov) {
      ovNft = Nftables.open({ netns: ov.netns });
      ovNft.run(overlayBatch(table, spec, tag));
    }
    nft.run(traceBatch(table, spec, tag));
    await opts.beforeSend?.(tag);
    fd = sendProbe(spec, tag);
    await sleep(opts.waitMs ?? 400);
  } finally {
    if (fd >= 0) closeFd(fd);
    try {
      nft.run(`delete table inet ${table}\ndelete table bridge ${table}\n`);
    } catch {
      // Not added (the batch failed as a whole): nothing to delete.
    }
    if (ovNft) {
      try {
        ovNft.run(`delete table bridge ${table}\n`);
      } catch {
        // Not added.
      }
      ovNft.close();
    }
  }
  const lines = await monitor.stop();
  const overlayLines = await ovMonitor?.stop();
  return { table, tag, lines, ...(overlayLines ? { overlayLines } : {}) };
}

/**
 * The far side of a trace across hosts: on the destination's host, the
 * probe arriving in VXLAN (its host namespace's prerouting and input, by the
 * same raw match as the sender's) and crossing br0 in the overlay's
 * namespace to the container. Armed until `finish`, which deletes the
 * tables and returns both monitors' lines.
 */
export async function armArrival(
  spec: ProbeSpec & { overlay: { netns: string; vni: number } },
  tag: number,
  opts: { nftBin?: string; settleMs?: number } = {},
): Promise<{ finish(): Promise<{ lines: string[]; overlayLines: string[] }> }> {
  const table = TRACE_PREFIX + randomBytes(4).toString('hex');
  const nftBin = opts.nftBin ?? 'nft';
  const ovNetns = spec.overlay.netns;
  const monitor = watchLines([nftBin, 'monitor', 'trace']);
  const ovMonitor = watchLines(['nsenter', `--net=${ovNetns}`, '--', nftBin, 'monitor', 'trace']);
  const outer = vxlanMatch(spec, tag);
  // Opened inside the try: a namespace gone meanwhile must not leave the monitors running.
  const opened: Array<[Nftables, 'inet' | 'bridge']> = [];
  const clean = () => {
    for (const [ctx, family] of opened.splice(0).reverse()) {
      try {
        ctx.run(`delete table ${family} ${table}\n`);
      } catch {
        // Not added.
      }
      ctx.close();
    }
  };
  try {
    const nft = Nftables.open();
    opened.push([nft, 'inet']);
    const ovNft = Nftables.open({ netns: ovNetns });
    opened.push([ovNft, 'bridge']);
    await sleep(opts.settleMs ?? 300);
    const batch = [`add table inet ${table}`];
    for (const hook of ['prerouting', 'input']) {
      batch.push(
        `add chain inet ${table} ${hook} { type filter hook ${hook} priority -400; policy accept; }`,
        `add rule inet ${table} ${hook} ${outer} meta nftrace set 1`,
      );
    }
    nft.run(batch.join('\n') + '\n');
    ovNft.run(overlayBatch(table, spec, tag));
  } catch (e) {
    clean();
    await Promise.all([monitor.stop(), ovMonitor.stop()]);
    throw e;
  }
  return {
    async finish() {
      clean();
      const [lines, overlayLines] = await Promise.all([monitor.stop(), ovMonitor.stop()]);
      const ids = (ls: string[]) => {
        const keep = new Set(
          ls.filter((l) => l.includes(` ${table} `)).map((l) => l.split(' ')[2]),
        );
        return ls.filter((l) => keep.has(l.split(' ')[2]));
      };
      return { lines: ids(lines), overlayLines: ids(overlayLines) };
    },
  };
}

/** Deletes every trace table a daemon left (killed mid-trace); returns their names. */
export function sweepTraceTables(nft: Nftables): string[] {
  const doc = nft.runJson('list tables') as {
    nftables?: Array<{ table?: { family?: string; name?: string } }>;
  };
  const left = (doc.nftables ?? []).flatMap((i) =>
    i.table?.name?.startsWith(TRACE_PREFIX) ? [`${i.table.family} ${i.table.name}`] : [],
  );
  if (left.length) nft.run(left.map((t) => `delete table ${t}\n`).join(''));
  return left;
}

/** The route the namespace picks to `dst` (`ip -j route get`): its device, gateway, source. */
export async function routeGet(
  netns: string | undefined,
  dst: string,
): Promise<{ dev?: string; gateway?: string; prefsrc?: string; type?: string; error?: string }> {
  const argv = ['ip', '-j', 'route', 'get', dst];
  const r = await run(netns ? ['nsenter', `--net=${netns}`, '--', ...argv] : argv);
  if (r.code !== 0) return { error: (r.stderr || r.stdout).trim() || `exit ${r.code}` };
  try {
    const [first] = JSON.parse(r.stdout) as Array<Record<string, string>>;
    return {
      ...(first?.dev ? { dev: first.dev } : {}),
      ...(first?.gateway ? { gateway: first.gateway } : {}),
      ...(first?.prefsrc ? { prefsrc: first.prefsrc } : {}),
      ...(first?.type ? { type: first.type } : {}),
    };
  } catch {
    return { error: `cannot read: ${r.stdout.trim()}` };
  }
}

/** /proc/net/tcp{,6} and /proc/net/udp{,6} as the namespace has them (read there), each pair joined. */
export function socketTables(netns: string): { tcp: string; udp: string } {
  const read = (f: string) => {
    try {
      return readFileSync(`/proc/thread-self/net/${f}`, 'utf8');
    } catch {
      return ''; // no IPv6 in the namespace
    }
  };
  // IPv6 sockets bound to :: take IPv4 too (busybox httpd's are such).
  return inNetns(netns, () => ({
    tcp: read('tcp') + read('tcp6'),
    udp: read('udp') + read('udp6'),
  }));
}
