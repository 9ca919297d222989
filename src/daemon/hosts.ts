/**
 * Where berthd serves the API (`-H`, dockerd's spelling) and how (`--tls`,
 * `--tlsverify`). Pure: parsing, defaults and the rule that keeps plain TCP
 * off the network unless asked for.
 */
import { isIP } from 'node:net';
import { join } from 'node:path';

/** One API listener. */
export type ApiHost =
  | { proto: 'unix'; path: string }
  | {
      proto: 'tcp';
      /** IP address or name to bind; dockerd's default is localhost. */
      host: string;
      /** Undefined until the TLS mode is known: 2375 plain, 2376 with TLS (dockerd's defaults). */
      port?: number;
    };

/** Thrown for a malformed `-H`; flags.ts wraps it in dockerd's flag wording. */
export class HostError extends Error {}

/** The default socket when no -H is given. */
export const DEFAULT_SOCKET = '/run/berth/berth.sock';

/**
 * Parses one `-H` value as dockerd does (opts.ParseHost): `unix:///path`,
 * `tcp://HOST:PORT` (host and port optional), a bare `HOST:PORT` as tcp;
 * Berth also keeps its old spelling, a bare `/path`, for a unix socket.
 */
export function parseHost(v: string): ApiHost {
  const s = v.trim();
  if (s.startsWith('/')) return { proto: 'unix', path: s };
  const i = s.indexOf('://');
  const proto = i < 0 ? 'tcp' : s.slice(0, i);
  const rest = i < 0 ? s : s.slice(i + 3);
  if (proto === 'unix') {
    if (rest === '') return { proto: 'unix', path: DEFAULT_SOCKET };
    if (!rest.startsWith('/')) throw new HostError(`Invalid bind address format: ${v}`);
    return { proto: 'unix', path: rest };
  }
  if (proto === 'fd' || proto === 'npipe' || proto === 'ssh') {
    throw new HostError(
      `berth does not support ${proto}:// API listeners yet: give unix:// or tcp://`,
    );
  }
  if (proto !== 'tcp') throw new HostError(`Invalid bind address format: ${v}`);
  if (rest === '' || rest.includes('://')) throw new HostError(`Invalid proto, expected tcp: ${v}`);
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(rest);
  if (v6) {
    host = v6[1]!;
    portText = v6[2];
    if (isIP(host) !== 6) throw new HostError(`Invalid bind address format: ${v}`);
  } else {
    const parts = rest.split(':');
    if (parts.length > 2) throw new HostError(`Invalid bind address format: ${v}`);
    host = parts[0]!;
    portText = parts[1];
  }
  if (host !== '' && isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) {
    throw new HostError(`Invalid bind address format: ${v}`);
  }
  let port: number | undefined;
  if (portText !== undefined && portText !== '') {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
      throw new HostError(`Invalid bind address format: ${v}`);
    }
  }
  return { proto: 'tcp', host: host === '' ? '127.0.0.1' : host, port };
}

/** `unix:///path` or `tcp://HOST:PORT` ([v6]:PORT). */
export function hostString(h: ApiHost): string {
  if (h.proto === 'unix') return `unix://${h.path}`;
  const host = isIP(h.host) === 6 ? `[${h.host}]` : h.host;
  return `tcp://${host}:${h.port ?? 2375}`;
}

/** True for addresses only this machine can reach: 127/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** The TLS flags as given. */
export interface TlsFlags {
  /** TLS on the TCP listeners: --tls, or implied by --tlsverify given with any value (dockerd 20.10). */
  tls: boolean;
  /** Clients must present a certificate the CA signed (--tlsverify). */
  tlsVerify: boolean;
  /** --tls=false was given explicitly: plain TCP on a network address is then accepted. */
  tlsExplicitlyOff: boolean;
  tlsCaCert?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/**
 * Fills in TCP default ports and refuses plain TCP on a non-loopback address
 * unless `--tls=false` says so (Docker 27's rule: 20.10 only warned and slept
 * 15 s). Returns the error message, or undefined.
 */
export function checkHosts(hosts: ApiHost[], t: TlsFlags): string | undefined {
  for (const h of hosts) {
    if (h.proto !== 'tcp') continue;
    h.port ??= t.tls ? 2376 : 2375;
    if (!t.tls && !t.tlsExplicitlyOff && !isLoopback(h.host)) {
      return (
        `refusing to serve the API on ${hostString(h)} without TLS: anyone who can reach that ` +
        'address would get root on this host. Give --tlsverify with --tlscacert, --tlscert and ' +
        '--tlskey (mutual TLS), or --tls=false to serve plain TCP anyway'
      );
    }
  }
  return undefined;
}

/** Where the TLS files are: the flags, else dockerd's defaults ($DOCKER_CERT_PATH or ~/.docker). */
export function tlsFiles(
  t: TlsFlags,
  env: NodeJS.ProcessEnv,
  home: string,
): { ca: string; cert: string; key: string } {
  const dir = env.DOCKER_CERT_PATH || join(home, '.docker');
  return {
    ca: t.tlsCaCert ?? join(dir, 'ca.pem'),
    cert: t.tlsCert ?? join(dir, 'cert.pem'),
    key: t.tlsKey ?? join(dir, 'key.pem'),
  };
}

const ATTACK_SURFACE = `
         Access to the remote API is equivalent to root access on the host. Refer
         to the 'Docker daemon attack surface' section in the documentation for
         more information: https://docs.docker.com/go/attack-surface/`;

/** dockerd 20.10's `docker info` warnings for TCP listeners without full TLS. */
export function apiWarnings(hosts: ApiHost[], t: TlsFlags): string[] {
  const out: string[] = [];
  for (const h of hosts) {
    if (h.proto !== 'tcp') continue;
    const addr = hostString(h).slice('tcp://'.length);
    if (!t.tls)
      out.push(`WARNING: API is accessible on http://${addr} without encryption.${ATTACK_SURFACE}`);
    else if (!t.tlsVerify) {
      out.push(
        `WARNING: API is accessible on https://${addr} without TLS client verification.${ATTACK_SURFACE}`,
      );
    }
  }
  return out;
}

/** The live view's listener (--web): an address and a port, both required. */
export interface WebAddr {
  host: string;
  port: number;
}

/** Parses `--web`: `IP:PORT`, `[v6]:PORT` or `localhost:PORT` (tcp:// allowed, as -H). */
export function parseWeb(v: string): WebAddr {
  if (v.startsWith('/') || v.startsWith('unix://')) {
    throw new HostError(`the live view listens on TCP only: give IP:PORT, e.g. 127.0.0.1:8088`);
  }
  const h = parseHost(v.includes('://') ? v : `tcp://${v}`);
  if (h.proto !== 'tcp' || h.port === undefined) {
    throw new HostError(`give IP:PORT, e.g. 127.0.0.1:8088`);
  }
  return { host: h.host, port: h.port };
}

/** `IP:PORT` ([v6]:PORT) of the live view. */
export function webString(w: WebAddr): string {
  return `${isIP(w.host) === 6 ? `[${w.host}]` : w.host}:${w.port}`;
}

/**
 * The live view shows every container's inspect data (environment
 * variables, often secrets) to whoever reaches it: on a loopback address
 * only, unless the daemon has TLS (then it is served with the same
 * certificate and, with --tlsverify, the same client check). --tls=false
 * does not lift this, unlike for -H.
 */
export function checkWeb(w: WebAddr, t: TlsFlags): string | undefined {
  if (isLoopback(w.host) || t.tls) return undefined;
  return (
    `refusing to serve the live view on ${webString(w)} without TLS: it shows every ` +
    "container's inspect data, environment included, to anyone who can reach that address. " +
    'Give a loopback address (127.0.0.1:PORT), or --tlsverify with --tlscacert, --tlscert and ' +
    '--tlskey to serve it over mutual TLS'
  );
}
