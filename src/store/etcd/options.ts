/**
 * How the etcd store is addressed and secured, and the parser for dockerd's
 * spelling of it: `--cluster-store etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`
 * with `--cluster-store-opt kv.cacertfile=… kv.certfile=… kv.keyfile=…`.
 */
import { invalid } from '../../common/errors.js';

/** Files of the client's TLS setup (PEM), as dockerd's kv.* options name them. */
export interface EtcdTlsFiles {
  /** CA that signed the etcd members' certificates (kv.cacertfile). */
  caFile: string;
  /** Client certificate for mutual TLS (kv.certfile); needs keyFile. */
  certFile?: string;
  /** Client key for mutual TLS (kv.keyfile); needs certFile. */
  keyFile?: string;
}

export interface EtcdStoreOptions {
  /**
   * Client URLs of the members: `HOST:PORT`, `http://HOST:PORT`,
   * `https://HOST:PORT` or `unix:///PATH`. Calls fail over between them.
   */
  endpoints: string[];
  /** Every key lives under this prefix (default `/berth/`); the store never sees others. */
  prefix?: string;
  /** TLS to the members; without it the connection is plain. */
  tls?: EtcdTlsFiles;
  /** Deadline of one call, so a dead cluster fails calls fast (default 5000 ms). */
  requestTimeoutMs?: number;
  /** Receives errors thrown by watch callbacks (default: a process warning). */
  onWatchError?: (e: unknown) => void;
}

/** The key prefix used when none is given. */
export const DEFAULT_PREFIX = '/berth/';

/** The cluster-store options this store understands (dockerd's names). */
const KV_OPTS = new Set(['kv.cacertfile', 'kv.certfile', 'kv.keyfile', 'kv.path']);

/**
 * Parses `etcd://h1:2379,h2:2379[/prefix]` and dockerd's `kv.*` cluster-store
 * options. Other option families (discovery.*) are left to the caller; an
 * unknown kv.* option is refused, so a typo does not silently turn TLS off.
 */
export function parseClusterStore(
  url: string,
  opts: Record<string, string> = {},
): EtcdStoreOptions {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(url);
  if (!m)
    throw invalid(`cluster store ${JSON.stringify(url)}: expected etcd://HOST:PORT[,HOST:PORT...]`);
  const endpoints = (m[1] as string).split(',').map((h) => h.trim());
  for (const h of endpoints) {
    if (
      !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(h) ||
      Number(h.split(':').pop()) > 65535
    ) {
      throw invalid(
        `cluster store ${JSON.stringify(url)}: bad endpoint ${JSON.stringify(h)} (want HOST:PORT)`,
      );
    }
  }
  for (const k of Object.keys(opts)) {
    if (k.startsWith('kv.') && !KV_OPTS.has(k)) {
      throw invalid(
        `cluster store option ${k} is not supported (known: ${[...KV_OPTS].join(', ')})`,
      );
    }
  }
  const ca = opts['kv.cacertfile'];
  const cert = opts['kv.certfile'];
  const key = opts['kv.keyfile'];
  if ((cert === undefined) !== (key === undefined)) {
    throw invalid('cluster store options kv.certfile and kv.keyfile go together');
  }
  if (cert !== undefined && ca === undefined) {
    throw invalid('cluster store option kv.certfile needs kv.cacertfile');
  }
  let prefix = opts['kv.path'] ?? m[2] ?? DEFAULT_PREFIX;
  if (prefix === '' || prefix === '/') prefix = DEFAULT_PREFIX;
  if (!prefix.endsWith('/')) prefix += '/';
  const out: EtcdStoreOptions = {
    endpoints: endpoints.map((h) => `${ca !== undefined ? 'https' : 'http'}://${h}`),
    prefix,
  };
  if (ca !== undefined) {
    out.tls = { caFile: ca };
    if (cert !== undefined && key !== undefined) {
      out.tls.certFile = cert;
      out.tls.keyFile = key;
    }
  }
  return out;
}
