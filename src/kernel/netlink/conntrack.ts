/**
 * Conntrack entries over ctnetlink (NETLINK_NETFILTER), in-process. Only what
 * publishing ports needs: forget the flows to a host port, so a UDP "flow"
 * that was NATed to a container that is gone (or that reached the host before
 * the port was published) does not keep its old destination until it times
 * out — libnetwork does the same when it maps a UDP port.
 */
import { NlWriter, parseAttrs, type NlMessage } from './codec.js';
import { AF_INET, AF_INET6, NETLINK_NETFILTER, NLA_F_NESTED } from './constants.js';
import { isNotFound } from './errors.js';
import { NetlinkSocket } from './socket.js';

const NFNL_SUBSYS_CTNETLINK = 1;
const IPCTNL_MSG_CT_GET = 1;
const IPCTNL_MSG_CT_DELETE = 2;
const CTA_TUPLE_ORIG = 1;
const CTA_ZONE = 18;
const CTA_TUPLE_IP = 1;
const CTA_TUPLE_PROTO = 2;
const CTA_PROTO_NUM = 1;
const CTA_PROTO_DST_PORT = 3;

/** IP protocol numbers of the protocols a port can be published for. */
export const IPPROTO = { tcp: 6, udp: 17, sctp: 132 } as const;

/** struct nfgenmsg: family, version 0, resource id 0. */
function nfgenmsg(family: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt8(family, 0);
  return b;
}

const msgType = (m: number): number => (NFNL_SUBSYS_CTNETLINK << 8) | m;

/** One entry's original-direction tuple (raw, to send back in a delete) and what it says. */
interface Entry {
  orig: Buffer;
  zone?: Buffer;
  proto: number;
  dport: number;
}

function decode(m: NlMessage): Entry | undefined {
  const a = parseAttrs(m.payload, 4);
  const orig = a.get(CTA_TUPLE_ORIG);
  if (!orig) return undefined;
  const p = parseAttrs(orig).get(CTA_TUPLE_PROTO);
  if (!p) return undefined;
  const pa = parseAttrs(p);
  const proto = pa.get(CTA_PROTO_NUM)?.readUInt8(0);
  const dport = pa.get(CTA_PROTO_DST_PORT)?.readUInt16BE(0);
  if (proto === undefined || dport === undefined || !parseAttrs(orig).has(CTA_TUPLE_IP))
    return undefined;
  return { orig, zone: a.get(CTA_ZONE), proto, dport };
}

/** A ctnetlink socket in the daemon's namespace. */
export class Conntrack {
  private constructor(private readonly sock: NetlinkSocket) {}

  /** Opens one (here, or inside the namespace bound at `netns`). */
  static open(opts: { netns?: string } = {}): Conntrack {
    return new Conntrack(NetlinkSocket.open({ ...opts, protocol: NETLINK_NETFILTER }));
  }

  /**
   * Deletes every IPv4 and IPv6 entry whose original destination port is
   * `port` for `proto`; returns how many went. Entries that vanish meanwhile
   * are fine.
   */
  async deleteByDestPort(proto: keyof typeof IPPROTO, port: number): Promise<number> {
    const num = IPPROTO[proto];
    let n = 0;
    for (const family of [AF_INET, AF_INET6]) {
      const dump = new NlWriter(msgType(IPCTNL_MSG_CT_GET), 0, nfgenmsg(family)).finish();
      const entries = (await this.sock.dump(dump, 'conntrack'))
        .map(decode)
        .filter((e): e is Entry => e !== undefined && e.proto === num && e.dport === port);
      for (const e of entries) {
        const w = new NlWriter(msgType(IPCTNL_MSG_CT_DELETE), 0, nfgenmsg(family));
        w.attr(CTA_TUPLE_ORIG | NLA_F_NESTED, e.orig);
        if (e.zone) w.attr(CTA_ZONE, e.zone);
        try {
          await this.sock.request(w.finish(), `conntrack ${proto}/${port}`);
          n++;
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
    }
    return n;
  }

  close(): void {
    this.sock.close();
  }
}
