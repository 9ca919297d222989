/**
 * Route messages (RTM_*ROUTE): default routes via a gateway, on-link
 * gateways, device routes; deleting; dumping and decoding. Field choices
 * follow `ip route add/del` so the kernel matches what iproute2 would.
 */
import { NlWriter, attrU32, parseAttrs, type NlMessage } from './codec.js';
import { formatIp, parseIp, parsePrefix } from './addr.js';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTMSG_LEN,
  RTM_DELROUTE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RTNH_F_ONLINK,
  RTPROT_BOOT,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
} from './constants.js';

/** A route to add or delete, names already resolved to indexes. */
export interface RouteRequest {
  /** Destination CIDR; absent or `default` for the default route. */
  dst?: string;
  /** Next hop. Without it the route is a device route (scope link). */
  gateway?: string;
  /** Output link index. */
  oif?: number;
  /** The gateway is reachable on `oif` even if no prefix there covers it. */
  onlink?: boolean;
  /** Routing table (default: main). */
  table?: number;
  /** Metric (RTA_PRIORITY). */
  metric?: number;
  /** Preferred source address. */
  src?: string;
  /** Family when neither `dst` nor `gateway` tells it (4 or 6; default 4). */
  family?: 4 | 6;
}

/** A route as the kernel reports it. */
export interface Route {
  /** 4 or 6. */
  family: 4 | 6;
  /** Destination CIDR, or `default`. */
  dst: string;
  /** Next hop, if any. */
  gateway?: string;
  /** Output link index. */
  oif?: number;
  /** Table id. */
  table: number;
  /** RTPROT_* (2 kernel, 3 boot, 4 static). */
  protocol: number;
  /** RT_SCOPE_*. */
  scope: number;
  /** RTN_* (1 unicast, 2 local, ...). */
  type: number;
  /** Metric. */
  metric?: number;
  /** Preferred source. */
  src?: string;
  /** RTNH_F_* flags (4 = onlink). */
  flags: number;
}

function rtmsg(f: {
  family: number;
  dstLen: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  flags: number;
}): Buffer {
  const b = Buffer.alloc(RTMSG_LEN);
  b.writeUInt8(f.family, 0);
  b.writeUInt8(f.dstLen, 1);
  b.writeUInt8(f.table, 4);
  b.writeUInt8(f.protocol, 5);
  b.writeUInt8(f.scope, 6);
  b.writeUInt8(f.type, 7);
  b.writeUInt32LE(f.flags, 8);
  return b;
}

/**
 * RTM_NEWROUTE (add; `replace` for create-or-replace) or RTM_DELROUTE.
 * Deletion leaves protocol, scope and type unset so the kernel matches any,
 * as `ip route del` does.
 */
export function routeMsg(
  type: typeof RTM_NEWROUTE | typeof RTM_DELROUTE,
  r: RouteRequest,
  replace = false,
): Buffer {
  const dst = r.dst && r.dst !== 'default' ? parsePrefix(r.dst) : undefined;
  const gw = r.gateway !== undefined ? parseIp(r.gateway) : undefined;
  const family = dst?.family ?? gw?.family ?? (r.family === 6 ? AF_INET6 : AF_INET);
  if (dst && gw && dst.family !== gw.family)
    throw new Error('route: dst and gateway families differ');
  const table = r.table ?? RT_TABLE_MAIN;
  const add = type === RTM_NEWROUTE;
  const w = new NlWriter(
    type,
    add ? NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL) : 0,
    rtmsg({
      family,
      dstLen: dst?.length ?? 0,
      table: table < 256 ? table : 0,
      protocol: add ? RTPROT_BOOT : 0,
      scope: add ? (gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK) : RT_SCOPE_NOWHERE,
      type: add ? RTN_UNICAST : 0,
      flags: r.onlink ? RTNH_F_ONLINK : 0,
    }),
  );
  if (table >= 256) w.u32(RTA_TABLE, table);
  if (dst && dst.length > 0) w.attr(RTA_DST, dst.bytes);
  if (gw) w.attr(RTA_GATEWAY, gw.bytes);
  if (r.oif !== undefined) w.u32(RTA_OIF, r.oif);
  if (r.metric !== undefined) w.u32(RTA_PRIORITY, r.metric);
  if (r.src !== undefined) w.attr(RTA_PREFSRC, parseIp(r.src).bytes);
  return w.finish();
}

/** RTM_GETROUTE dump for one family (AF_UNSPEC for both). */
export function dumpRouteMsg(family = AF_UNSPEC): Buffer {
  const fixed = rtmsg({ family, dstLen: 0, table: 0, protocol: 0, scope: 0, type: 0, flags: 0 });
  return new NlWriter(RTM_GETROUTE, 0, fixed).finish();
}

/** Decodes an RTM_NEWROUTE record. */
export function decodeRoute(m: NlMessage): Route {
  const p = m.payload;
  if (p.length < RTMSG_LEN) throw new Error('netlink: short rtmsg');
  const a = parseAttrs(p, RTMSG_LEN);
  const dstLen = p.readUInt8(1);
  const dst = a.get(RTA_DST);
  const route: Route = {
    family: p.readUInt8(0) === AF_INET ? 4 : 6,
    dst: dst && dstLen > 0 ? `${formatIp(dst)}/${dstLen}` : 'default',
    table: attrU32(a.get(RTA_TABLE)) ?? p.readUInt8(4),
    protocol: p.readUInt8(5),
    scope: p.readUInt8(6),
    type: p.readUInt8(7),
    flags: p.readUInt32LE(8),
  };
  const gw = a.get(RTA_GATEWAY);
  if (gw) route.gateway = formatIp(gw);
  const oif = attrU32(a.get(RTA_OIF));
  if (oif !== undefined) route.oif = oif;
  const metric = attrU32(a.get(RTA_PRIORITY));
  if (metric !== undefined) route.metric = metric;
  const src = a.get(RTA_PREFSRC);
  if (src) route.src = formatIp(src);
  return route;
}
