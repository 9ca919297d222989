/**
 * The cluster flags, as the seed types them and dockerd 20.10 named them:
 * `--cluster-store etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`,
 * `--cluster-advertise IP[:PORT]|IFACE[:PORT]`, `--cluster-store-opt k=v`.
 * Pure: parsing and checking; `resolveAdvertise` takes the interface list
 * from its caller. Nothing here connects to etcd.
 */
import type { NetworkInterfaceInfo } from 'node:os';
import { isIP } from 'node:net';
import { DEFAULT_PREFIX, type EtcdStoreOptions } from '../store/etcd/options.js';

/** etcd's client port, used when an endpoint names none. */
export const ETCD_CLIENT_PORT = 2379;

/** `--cluster-store`, checked. */
export interface ClusterStore {
  /** As given (what `docker info` shows as ClusterStore). */
  url: string;
  /** Only etcd (v3 API) so far. */
  backend: 'etcd';
  /** `host:port` of each endpoint, in the order given. */
  endpoints: string[];
  /** Key prefix from the URL's path (`etcd://h:2379/berth` → 'berth'), '' when none. */
  prefix: string;
}

/** `--cluster-advertise`, checked but not yet resolved. */
export interface ClusterAdvertise {
  /** As given. */
  raw: string;
  /** The address, when an IP was given. */
  ip?: string;
  /** The interface, when a name was given (resolved at start in the daemon's namespace). */
  iface?: string;
  /** The port, when one was given. */
  port?: number;
}

/** `--cluster-store-opt` keys for the store's TLS files (dockerd's names). */
export const TLS_OPTS = ['kv.cacertfile', 'kv.certfile', 'kv.keyfile'] as const;
/**
 * `--cluster-store-opt` keys for the node's registration (dockerd's names,
 * whole seconds): how long a dead host stays listed, how often a live one
 * renews.
 */
export const DISCOVERY_OPTS = ['discovery.ttl', 'discovery.heartbeat'] as const;
/** Every `--cluster-store-opt` key Berth knows. */
export const STORE_OPTS = [...TLS_OPTS, ...DISCOVERY_OPTS] as const;

/**
 * A host that dies stays listed this long (seconds); a clean stop removes it
 * at once, unless it has overlay endpoints (decision 0024).
 */
export const DEFAULT_NODE_TTL = 20;

export class ClusterFlagError extends Error {}

function hostPort(s: string): { host: string; port?: number } | undefined {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  let host: string;
  let port: string | undefined;
  if (v6) {
    host = v6[1]!;
    port = v6[2];
    if (isIP(host) !== 6) return undefined;
  } else if (isIP(s) === 6) {
    host = s;
  } else {
    const parts = s.split(':');
    if (parts.length > 2) return undefined;
    host = parts[0]!;
    port = parts[1];
    if (port === '') return undefined;
  }
  if (host === '') return undefined;
  if (port === undefined) return { host };
  const n = Number(port);
  if (!/^\d+$/.test(port) || n < 1 || n > 65535) return undefined;
  return { host, port: n };
}

const NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;

/** Parses and checks `--cluster-store`. */
export function parseClusterStore(v: string): ClusterStore {
  const want = 'expected etcd://HOST:PORT[,HOST:PORT...]';
  const i = v.indexOf('://');
  if (i < 0) throw new ClusterFlagError(`invalid --cluster-store ${v}: ${want}`);
  const scheme = v.slice(0, i);
  if (scheme !== 'etcd') {
    throw new ClusterFlagError(
      `berth does not support the ${scheme || '(empty)'} cluster store yet: ${want}`,
    );
  }
  const rest = v.slice(i + 3);
  const slash = rest.indexOf('/');
  const addrs = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
  if (addrs === '') throw new ClusterFlagError(`invalid --cluster-store ${v}: ${want}`);
  const endpoints = addrs.split(',').map((a) => {
    const hp = hostPort(a);
    if (!hp || (isIP(hp.host) === 0 && !NAME_RE.test(hp.host))) {
      throw new ClusterFlagError(`invalid --cluster-store ${v}: bad endpoint "${a}", ${want}`);
    }
    const host = isIP(hp.host) === 6 ? `[${hp.host}]` : hp.host;
    return `${host}:${hp.port ?? ETCD_CLIENT_PORT}`;
  });
  if (prefix !== '' && !/^[A-Za-z0-9._/-]+$/.test(prefix)) {
    throw new ClusterFlagError(`invalid --cluster-store ${v}: bad key prefix "${prefix}"`);
  }
  return { url: v, backend: 'etcd', endpoints, prefix };
}

/**
 * Parses `--cluster-advertise` as dockerd's ParseAdvertise reads it (an IP
 * or an interface name, then a port); unlike dockerd the port may be left
 * out (the seed's `IP[:PORT]`).
 */
export function parseClusterAdvertise(v: string): ClusterAdvertise {
  const hp = hostPort(v);
  const bad =
    !hp ||
    (isIP(hp.host) === 0 && !/^[A-Za-z0-9_.@-]{1,15}$/.test(hp.host)) ||
    /^(0\.0\.0\.0|::)$/.test(hp.host);
  if (!hp || bad) {
    throw new ClusterFlagError(
      `discovery advertise parsing failed: invalid --cluster-advertise configuration: ${v}: ` +
        'give a non-zero IP address or a network interface, with an optional port number',
    );
  }
  if (isIP(hp.host) !== 0) return { raw: v, ip: hp.host, port: hp.port };
  return { raw: v, iface: hp.host, port: hp.port };
}

/** Checks `--cluster-store-opt KEY=VALUE`; returns the pair. */
export function parseStoreOpt(v: string): [string, string] {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new ClusterFlagError(`invalid --cluster-store-opt ${v}: expected KEY=VALUE`);
  const key = v.slice(0, eq);
  const val = v.slice(eq + 1);
  if (!(STORE_OPTS as readonly string[]).includes(key)) {
    throw new ClusterFlagError(
      `berth does not support the cluster store option ${key} yet: it knows ${STORE_OPTS.join(', ')}`,
    );
  }
  if (key.startsWith('discovery.')) {
    if (!/^[1-9]\d{0,5}$/.test(val)) {
      throw new ClusterFlagError(
        `invalid --cluster-store-opt ${v}: ${key} must be a whole number of seconds`,
      );
    }
  } else if (!val.startsWith('/')) {
    throw new ClusterFlagError(`invalid --cluster-store-opt ${v}: ${key} must be an absolute path`);
  }
  return [key, val];
}

/** The checks across the three flags, in dockerd's words where it has them. */
export function checkCluster(
  store: ClusterStore | undefined,
  advertise: ClusterAdvertise | undefined,
  opts: Map<string, string>,
): void {
  if (advertise && !store) {
    throw new ClusterFlagError(
      'invalid cluster configuration. --cluster-advertise must be accompanied by --cluster-store configuration',
    );
  }
  if (opts.size > 0 && !store) {
    throw new ClusterFlagError('--cluster-store-opt needs --cluster-store');
  }
  const tls = TLS_OPTS.filter((k) => opts.has(k)).length;
  if (tls > 0 && tls < TLS_OPTS.length) {
    const missing = TLS_OPTS.filter((k) => !opts.has(k));
    throw new ClusterFlagError(
      `the cluster store's TLS needs kv.cacertfile, kv.certfile and kv.keyfile together; missing ${missing.join(', ')}`,
    );
  }
  const { ttl, heartbeat } = discovery(opts);
  if (heartbeat >= ttl) {
    throw new ClusterFlagError(
      `--cluster-store-opt discovery.heartbeat (${heartbeat}) must be less than discovery.ttl (${ttl})`,
    );
  }
}

/** The node's lease TTL and renewal interval, in seconds. */
export function discovery(opts: Map<string, string>): { ttl: number; heartbeat: number } {
  const ttl = Number(opts.get('discovery.ttl') ?? DEFAULT_NODE_TTL);
  const heartbeat = Number(opts.get('discovery.heartbeat') ?? Math.max(1, Math.floor(ttl / 3)));
  return { ttl, heartbeat };
}

/** How the store connects: endpoint URLs (https with the kv.* files) and TLS files. */
export function storeConfig(store: ClusterStore, opts: Map<string, string>): EtcdStoreOptions {
  const tls = TLS_OPTS.every((k) => opts.has(k));
  return {
    // https:// when the kv.* TLS files are given, else http://.
    endpoints: store.endpoints.map((e) => `${tls ? 'https' : 'http'}://${e}`),
    prefix: store.prefix ? `/${store.prefix}/` : DEFAULT_PREFIX,
    ...(tls && {
      tls: {
        caFile: opts.get('kv.cacertfile')!,
        certFile: opts.get('kv.certfile')!,
        keyFile: opts.get('kv.keyfile')!,
      },
    }),
  };
}

/**
 * The address other hosts reach this one at (`docker info`'s
 * ClusterAdvertise): an IP as given, or the first IPv4, non-loopback address
 * of the named interface, as dockerd picks it. `ifaces` is
 * `os.networkInterfaces()` of the daemon's namespace.
 */
export function resolveAdvertise(
  a: ClusterAdvertise,
  ifaces: NodeJS.Dict<NetworkInterfaceInfo[]>,
): string {
  const withPort = (ip: string) => {
    const h = isIP(ip) === 6 ? `[${ip}]` : ip;
    return a.port === undefined ? ip : `${h}:${a.port}`;
  };
  if (a.ip) return withPort(a.ip);
  const list = ifaces[a.iface!];
  if (!list) {
    throw new ClusterFlagError(
      `discovery advertise parsing failed: invalid cluster advertise IP address or interface name (${a.raw}) : no such network interface`,
    );
  }
  const v4 = list.find((x) => x.family === 'IPv4' && !x.internal);
  if (!v4) {
    throw new ClusterFlagError(
      `discovery advertise parsing failed: could not find a valid ip-address in interface ${a.raw}`,
    );
  }
  return withPort(v4.address);
}
