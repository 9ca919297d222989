/**
 * How the etcd store is addressed and secured (the daemon's
 * `--cluster-store` and `--cluster-store-opt kv.*` flags become this:
 * src/daemon/cluster.ts).
 */

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
