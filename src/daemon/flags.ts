/** berthd's command line, in dockerd's spelling where dockerd has one. Pure. */
import { isIP, isIPv4 } from 'node:net';
import { isLevel, type Level } from '../common/log.js';
import { parseAddressPoolFlag, parseCidr, type PoolSpec } from '../network/ipam/index.js';
import {
  ClusterFlagError,
  checkCluster,
  parseClusterAdvertise,
  parseClusterStore,
  parseStoreOpt,
  type ClusterAdvertise,
  type ClusterStore,
} from './cluster.js';
import {
  DEFAULT_SOCKET,
  HostError,
  checkHosts,
  checkWeb,
  parseHost,
  parseWeb,
  type ApiHost,
  type TlsFlags,
  type WebAddr,
} from './hosts.js';

export interface DaemonFlags extends TlsFlags {
  /** Path of the API's first unix socket ('' when every -H is TCP). */
  socket: string;
  /** Every API listener (-H, repeatable); the default socket when none is given. */
  hosts: ApiHost[];
  /** --web ADDR: the live view's listener (off when undefined; decision 0034). */
  web?: WebAddr;
  /** --cluster-store: the etcd cluster shared with the other hosts. */
  clusterStore?: ClusterStore;
  /** --cluster-advertise: the address other hosts reach this one at. */
  clusterAdvertise?: ClusterAdvertise;
  /** --cluster-store-opt KEY=VALUE (the store's TLS files). */
  clusterStoreOpts: Map<string, string>;
  dataRoot: string;
  execRoot: string;
  runtime?: string;
  logLevel: Level;
  dns: string[];
  resolvConf?: string;
  /** The default bridge's gateway address and prefix (dockerd's --bip, e.g. 172.17.0.1/16). */
  bip?: string;
  /** MTU of the default bridge, and of every network without its own (default: the uplink's). */
  mtu?: number;
  /** Traffic between containers on the default bridge (--icc). */
  icc: boolean;
  /**
   * Containers keep running while the daemon is down, and are adopted by the
   * next one (--live-restore); off (dockerd's default), the daemon stops them
   * when it stops and restarts them by their restart policy when it starts.
   */
  liveRestore: boolean;
  /** The default bridge's traffic masqueraded out of the host (--ip-masq). */
  ipMasq: boolean;
  /** Host address of the default bridge's published ports that name none (--ip). */
  ip?: string;
  /** What `--add-host NAME:host-gateway` names (--host-gateway-ip; default: the default bridge's gateway). */
  hostGatewayIp?: string;
  /** Where the default bridge's containers get IPv4 addresses, inside its subnet (--fixed-cidr). */
  fixedCidr?: string;
  /** IPv6 on the default bridge (--ipv6), from this subnet (--fixed-cidr-v6). */
  ipv6: boolean;
  fixedCidrV6?: string;
  /** Replacements for Docker's default address pools (base=CIDR,size=N), in order. */
  defaultAddressPools: PoolSpec[];
  /** The machine-wide cache of builtin image layers (default: the image store's). */
  builtinCache?: string;
  /** A configuration file (dockerd's daemon.json format), when one was named (--config-file). */
  configFile?: string;
  /** Each flag given, by its long name, with its value as written (the last, for lists). */
  given: Map<string, string>;
  help: boolean;
  version: boolean;
}

export const USAGE = `Usage: berthd [OPTIONS]

A container engine that speaks the Docker Engine API.

Options:
  -H, --host unix:///path|tcp://IP:PORT
                              Daemon socket(s) to serve the API on (repeatable;
                              default unix:///run/berth/berth.sock)
      --tls                   Use TLS on the TCP listeners; implied by --tlsverify.
                              --tls=false: accept plain TCP on a network address
      --tlsverify             Use TLS and require client certificates the CA signed
      --tlscacert path        CA that signs client certificates (default ~/.docker/ca.pem)
      --tlscert path          Server certificate (default ~/.docker/cert.pem)
      --tlskey path           Server key (default ~/.docker/key.pem)
      --web IP:PORT           Serve a live view of the network topology on this address
                              (off by default; a loopback address unless TLS is on)
      --cluster-store etcd://HOST:PORT[,HOST:PORT...]
                              The etcd cluster shared by the hosts of a cluster
      --cluster-advertise IP[:PORT]|IFACE[:PORT]
                              The address other hosts reach this one at
      --cluster-store-opt kv.cacertfile=|kv.certfile=|kv.keyfile=path
                              TLS files for the cluster store (repeatable);
                              discovery.ttl=|discovery.heartbeat=seconds: how long a
                              dead host stays listed (20), how often it renews
      --config-file path      Daemon configuration file, dockerd's daemon.json format
                              (default /etc/berth/daemon.json)
      --data-root path        Root of persistent state (default /var/lib/berth)
      --exec-root path        Root of runtime state (default /run/berth)
      --runtime runc|crun     OCI runtime (default: runc; crun only where it works)
  -l, --log-level level       debug, info, warn, error, fatal (default info)
  -D, --debug                 Same as --log-level debug
      --dns IP                Nameserver for containers and upstream for Berth's DNS (repeatable)
      --resolv-conf path      Take nameservers from this file instead of /etc/resolv.conf
      --bip CIDR              The default bridge's address, e.g. 172.17.0.1/16
      --default-address-pool base=CIDR,size=N
                              Pools for automatic subnets (repeatable; replaces Docker's)
      --mtu int               MTU of the default bridge and of networks without their
                              own (default: the MTU of the host's uplink)
      --icc=true|false        Traffic between containers on the default bridge (default true)
      --live-restore          Keep containers running while the daemon is down (default false:
                              stop them at shutdown, restart them by policy at start)
      --ip-masq=true|false    Masquerade the default bridge's traffic out of the host (default true)
      --host-gateway-ip IP    What --add-host NAME:host-gateway names (default: the default
                              bridge's gateway)
      --ip IP                 Default host address of the default bridge's published ports
                              (default 0.0.0.0)
      --fixed-cidr CIDR       IPv4 range of the default bridge's containers (inside its subnet)
      --ipv6                  IPv6 on the default bridge, from --fixed-cidr-v6
      --fixed-cidr-v6 CIDR    IPv6 subnet of the default bridge
      --builtin-cache path    Cache of the builtin redis/python layers, shared by
                              every data-root (default /var/cache/berth/builtin)
  -v, --version               Print version and exit
  -h, --help                  Print this help
`;

export class FlagError extends Error {}

/** Short and alternative spellings → the long name. */
const LONG: Record<string, string> = {
  '-H': '--host',
  '-g': '--data-root',
  '--default-runtime': '--runtime',
  '-l': '--log-level',
  '-D': '--debug',
  '-h': '--help',
  '-v': '--version',
};

const IP_RE = /^(\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:.]*$/;

/** A CIDR of one family, as dockerd's network controller refuses others. */
function cidrFlag(v: string, family: 4 | 6): string {
  const c = parseCidr(v);
  if (!c) throw new FlagError(`invalid CIDR address: ${v}`);
  if (c.family !== family) {
    throw new FlagError(`invalid CIDR address: ${v} is not an IPv${family} subnet`);
  }
  return v;
}

/** A boolean flag: bare is true, else `--flag=value` with Go's spellings of true and false. */
function parseBool(flag: string, val: string | undefined): boolean {
  if (val === undefined) return true;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(val)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(val)) return false;
  throw new FlagError(
    `invalid argument "${val}" for "${flag}" flag: strconv.ParseBool: parsing "${val}": invalid syntax`,
  );
}

function clusterFlag<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ClusterFlagError) throw new FlagError(e.message);
    throw e;
  }
}

/**
 * The daemon's flags from `argv`, checked as a whole (listeners and their
 * TLS, the live view, the cluster, IPv6, paths). With `checks: false` each
 * flag is read but the whole is not checked: the command line before
 * daemon.json's settings join it (dockerd checks the merged configuration,
 * so `-H tcp://…` given here with `tlsverify` in the file is fine).
 */
export function parseFlags(argv: string[], opts: { checks?: boolean } = {}): DaemonFlags {
  const f: DaemonFlags = {
    socket: DEFAULT_SOCKET,
    hosts: [],
    clusterStoreOpts: new Map(),
    tls: false,
    tlsVerify: false,
    tlsExplicitlyOff: false,
    dataRoot: '/var/lib/berth',
    execRoot: '/run/berth',
    logLevel: 'info',
    dns: [],
    icc: true,
    liveRestore: false,
    ipMasq: true,
    ipv6: false,
    defaultAddressPools: [],
    given: new Map(),
    help: false,
    version: false,
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i] as string;
    let val: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      val = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const next = () => {
      if (val !== undefined) return val;
      const v = argv[++i];
      if (v === undefined) throw new FlagError(`flag needs an argument: ${a}`);
      return (val = v);
    };
    switch (a) {
      case '--config-file':
        f.configFile = next();
        break;
      case '-H':
      case '--host': {
        const v = next();
        try {
          f.hosts.push(parseHost(v));
        } catch (e) {
          if (!(e instanceof HostError)) throw e;
          throw new FlagError(`invalid argument "${v}" for "-H, --host" flag: ${e.message}`);
        }
        break;
      }
      case '--web': {
        const v = next();
        try {
          f.web = parseWeb(v);
        } catch (e) {
          if (!(e instanceof HostError)) throw e;
          throw new FlagError(`invalid argument "${v}" for "--web" flag: ${e.message}`);
        }
        break;
      }
      case '--tls':
        f.tls = parseBool(a, val);
        f.tlsExplicitlyOff = !f.tls;
        break;
      case '--tlsverify':
        f.tlsVerify = parseBool(a, val);
        break;
      case '--tlscacert':
        f.tlsCaCert = next();
        break;
      case '--tlscert':
        f.tlsCert = next();
        break;
      case '--tlskey':
        f.tlsKey = next();
        break;
      case '--cluster-store':
        f.clusterStore = clusterFlag(() => parseClusterStore(next()));
        break;
      case '--cluster-advertise':
        f.clusterAdvertise = clusterFlag(() => parseClusterAdvertise(next()));
        break;
      case '--cluster-store-opt': {
        const [k, v] = clusterFlag(() => parseStoreOpt(next()));
        f.clusterStoreOpts.set(k, v);
        break;
      }
      case '--data-root':
      case '-g':
        f.dataRoot = next();
        break;
      case '--exec-root':
        f.execRoot = next();
        break;
      case '--runtime':
      case '--default-runtime':
        f.runtime = next();
        break;
      case '-l':
      case '--log-level': {
        const v = next();
        if (!isLevel(v)) throw new FlagError(`invalid log level ${v}`);
        f.logLevel = v;
        break;
      }
      case '-D':
      case '--debug':
        // --debug=false (and daemon.json's "debug": false) leave the level alone.
        if (parseBool(a, val)) f.logLevel = 'debug';
        break;
      case '--dns': {
        const v = next();
        if (!IP_RE.test(v)) throw new FlagError(`${v} is not an ip address`);
        f.dns.push(v);
        break;
      }
      case '--resolv-conf':
        f.resolvConf = next();
        break;
      case '--bip': {
        const v = next();
        const c = parseCidr(v);
        if (!c || c.family !== 4)
          throw new FlagError(
            `invalid --bip ${v}: expected an IPv4 address with a prefix, e.g. 172.17.0.1/16`,
          );
        f.bip = v;
        break;
      }
      case '--mtu': {
        const v = next();
        const n = Number(v);
        if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) {
          throw new FlagError(
            `invalid argument "${v}" for "--mtu" flag: strconv.ParseInt: parsing "${v}": invalid syntax`,
          );
        }
        // As dockerd: 0 is "not set"; below IPv4's minimum the kernel refuses it.
        if (n !== 0 && (n < 68 || n > 65535)) {
          throw new FlagError(`invalid --mtu ${v}: expected 68-65535`);
        }
        f.mtu = n || undefined;
        break;
      }
      case '--icc':
        f.icc = parseBool(a, val);
        break;
      case '--live-restore':
        f.liveRestore = parseBool(a, val);
        break;
      case '--ip-masq':
        f.ipMasq = parseBool(a, val);
        break;
      case '--ip': {
        const v = next();
        if (!isIP(v))
          throw new FlagError(`invalid argument "${v}" for "--ip" flag: ${v} is not an ip address`);
        if (!isIPv4(v)) {
          throw new FlagError(
            `--ip ${v}: an IPv6 default address needs a userland proxy, which Berth has not; give an IPv4 one`,
          );
        }
        f.ip = v;
        break;
      }
      case '--host-gateway-ip': {
        const v = next();
        if (!isIP(v)) {
          throw new FlagError(
            `invalid argument "${v}" for "--host-gateway-ip" flag: invalid IP address: ${v}`,
          );
        }
        f.hostGatewayIp = v;
        break;
      }
      case '--fixed-cidr':
        f.fixedCidr = cidrFlag(next(), 4);
        break;
      case '--fixed-cidr-v6':
        f.fixedCidrV6 = cidrFlag(next(), 6);
        break;
      case '--ipv6':
        f.ipv6 = parseBool(a, val);
        break;
      case '--default-address-pool':
        try {
          f.defaultAddressPools.push(parseAddressPoolFlag(next()));
        } catch (e) {
          throw new FlagError(`invalid --default-address-pool: ${(e as Error).message}`);
        }
        break;
      case '--builtin-cache':
        f.builtinCache = next();
        if (!f.builtinCache.startsWith('/'))
          throw new FlagError(`builtinCache must be an absolute path: ${f.builtinCache}`);
        break;
      case '-h':
      case '--help':
        f.help = true;
        break;
      case '-v':
      case '--version':
        f.version = true;
        break;
      default:
        throw new FlagError(`unknown flag: ${a}`);
    }
    f.given.set(LONG[a] ?? a, val ?? 'true');
  }
  if (f.hosts.length === 0) f.hosts.push({ proto: 'unix', path: DEFAULT_SOCKET });
  f.socket = f.hosts.find((h) => h.proto === 'unix')?.path ?? '';
  // dockerd 20.10: --tlsverify given at all, true or false, turns TLS on.
  if (f.given.has('--tlsverify')) {
    f.tls = true;
    f.tlsExplicitlyOff = false;
  }
  if (opts.checks === false) return f;
  const refused = checkHosts(f.hosts, f);
  if (refused) throw new FlagError(refused);
  const webRefused = f.web && checkWeb(f.web, f);
  if (webRefused) throw new FlagError(webRefused);
  clusterFlag(() => checkCluster(f.clusterStore, f.clusterAdvertise, f.clusterStoreOpts));
  if (f.ipv6 && !f.fixedCidrV6) {
    throw new FlagError(
      'IPv6 is enabled for the default bridge, but no subnet is configured. Specify an IPv6 subnet using --fixed-cidr-v6',
    );
  }
  for (const k of ['dataRoot', 'execRoot'] as const) {
    if (!f[k].startsWith('/')) throw new FlagError(`${k} must be an absolute path: ${f[k]}`);
  }
  return f;
}
