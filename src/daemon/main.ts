/**
 * berthd: opens the store, images, networks and containers of one data-root,
 * recovers what ran while it was away, and serves the Engine API on a unix socket.
 *
 * Size: the wiring of every part, in start-up order, and their shutdown in
 * reverse; what a part does lives in its own module.
 */
import { chmodSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { cpus, homedir, hostname, networkInterfaces, release, totalmem } from 'node:os';
import type { Server } from 'node:http';
import { dirname, join } from 'node:path';
import { createApiServer, type ApiTls } from '../api/server.js';
import { webRouter } from '../api/web/live.js';
import { apiRouter } from '../api/routes/index.js';
import type { Services } from '../api/routes/services.js';
import { Builder } from '../build/builder.js';
import { BuildCache } from '../build/cache.js';
import { messageOf } from '../common/errors.js';
import { ExecService } from '../containers/exec.js';
import { parseResolvConf } from '../containers/files.js';
import { ContainerRepo } from '../containers/repo.js';
import { ContainerService, type DaemonDns } from '../containers/service.js';
import { volumeUsers } from '../containers/mounts.js';
import { VolumeService } from '../volumes/service.js';
import { EventBus } from '../events/bus.js';
import { ImageStore } from '../images/store.js';
import { Runtime, chooseRuntime } from '../kernel/runtime/runtime.js';
import { NetworkController } from '../network/controller.js';
import type { EndpointRecord } from '../network/records.js';
import { Ipam } from '../network/ipam/index.js';
import { Rtnl } from '../kernel/netlink/index.js';
import { Conntrack } from '../kernel/netlink/conntrack.js';
import { armArrival, NftFirewall, sweepTraceTables } from '../kernel/firewall/index.js';
import { askPeer, listeningIn, servePeer } from '../network/trace/index.js';
import { isNetns } from '../kernel/netns/netns.js';
import { unreadBySocketPeer } from '../kernel/sys/libc.js';
import { DnsResolver } from '../network/dns/index.js';
import { openClusterStore, openEmbeddedStore } from '../store/index.js';
import type { EtcdStoreOptions } from '../store/etcd/options.js';
import type { KvStore } from '../store/types.js';
import { Convergence } from '../cluster/applied.js';
import { ControlPlane, type Endpoint } from '../cluster/control-plane.js';
import { GlobalNetworks } from '../cluster/networks.js';
import { NodeRegistry, type NodeInfo } from '../cluster/nodes.js';
import { Reaper } from '../cluster/reaper.js';
import { Rejoin, type HostEndpoints } from '../cluster/rejoin.js';
import { DEFAULT_CONFIG_FILE, withConfigFile } from './config-file.js';
import { FlagError, USAGE, parseFlags, type DaemonFlags } from './flags.js';
import { lockDataRoot } from './lock.js';
import { ClusterFlagError, discovery, resolveAdvertise, storeConfig } from './cluster.js';
import { apiWarnings, hostString, isLoopback, tlsFiles, webString } from './hosts.js';
import { createLogger, type Logger } from '../common/log.js';

export const VERSION = '0.1.0';

/** The nameservers containers get: --dns, else --resolv-conf, else the host's resolv.conf. */
function daemonDns(f: DaemonFlags): DaemonDns {
  if (f.dns.length) return { daemonServers: f.dns, daemonSearch: [], daemonOptions: [] };
  const path = f.resolvConf ?? '/etc/resolv.conf';
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (f.resolvConf) throw new Error(`cannot read --resolv-conf ${path}: ${messageOf(e)}`);
  }
  const r = parseResolvConf(text);
  return { daemonServers: r.servers, daemonSearch: r.search, daemonOptions: r.options };
}

function daemonId(dataRoot: string): string {
  const p = join(dataRoot, 'engine-id');
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    const id = randomBytes(16)
      .toString('hex')
      .toUpperCase()
      .replace(/(.{4})(?=.)/g, '$1:');
    writeFileSync(p, id + '\n');
    return id;
  }
}

/**
 * The TCP listeners' TLS material, read before anything else happens, with
 * go-connections' words (dockerd's) when a file is missing or unreadable.
 */
function loadTls(f: DaemonFlags): ApiTls | undefined {
  if (!f.tls || (!f.hosts.some((h) => h.proto === 'tcp') && !f.web)) return undefined;
  const files = tlsFiles(f, process.env, homedir());
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(files.cert);
    key = readFileSync(files.key);
  } catch (e) {
    throw new FlagError(
      `Could not load X509 key pair (cert: "${files.cert}", key: "${files.key}"): ${messageOf(e)}`,
    );
  }
  let ca: Buffer | undefined;
  if (f.tlsVerify) {
    try {
      ca = readFileSync(files.ca);
    } catch (e) {
      throw new FlagError(`Could not read CA certificate "${files.ca}": ${messageOf(e)}`);
    }
  }
  return { cert, key, ca, verifyClients: f.tlsVerify };
}

/** Listens on one -H address; a unix socket gets mode 0660 as dockerd's. */
async function listen(server: Server, h: DaemonFlags['hosts'][number]): Promise<void> {
  if (h.proto === 'unix') {
    mkdirSync(dirname(h.path), { recursive: true });
    rmSync(h.path, { force: true }); // ours: we hold the data-root lock
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (h.proto === 'unix') server.listen(h.path, () => resolve());
    else server.listen(h.port, h.host, () => resolve());
  });
  if (h.proto === 'unix') chmodSync(h.path, 0o660);
}

/** The configuration file's text: undefined when the default one does not exist. */
function readConfigFile(named: string | undefined): string | undefined {
  const path = named ?? DEFAULT_CONFIG_FILE;
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    if (named === undefined && missing) return undefined;
    const why = missing ? `open ${path}: no such file or directory` : (e as Error).message;
    throw new FlagError(`unable to configure berthd with file ${path}: ${why}`);
  }
}

async function main(): Promise<number> {
  let flags: DaemonFlags;
  const argv = process.argv.slice(2);
  try {
    // The command line is checked as a whole once daemon.json has joined it.
    const cmd = parseFlags(argv, { checks: false });
    const text = cmd.help || cmd.version ? undefined : readConfigFile(cmd.configFile);
    flags =
      text === undefined
        ? parseFlags(argv)
        : withConfigFile(argv, cmd.configFile ?? DEFAULT_CONFIG_FILE, text);
  } catch (e) {
    if (e instanceof FlagError) {
      process.stderr.write(`berthd: ${e.message}\n${USAGE}`);
      return 1;
    }
    throw e;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (flags.version) {
    process.stdout.write(`Berth version ${VERSION}\n`);
    return 0;
  }
  let tls: ApiTls | undefined;
  let advertise: string | undefined;
  try {
    tls = loadTls(flags);
    if (flags.clusterAdvertise)
      advertise = resolveAdvertise(flags.clusterAdvertise, networkInterfaces());
  } catch (e) {
    if (e instanceof FlagError || e instanceof ClusterFlagError) {
      process.stderr.write(`berthd: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  if (flags.clusterStore && !advertise) {
    process.stderr.write(
      'berthd: --cluster-store needs --cluster-advertise IP[:PORT]|IFACE[:PORT]: the address the other hosts reach this one at\n',
    );
    return 1;
  }
  const log = createLogger(flags.logLevel);
  // A fault in background work (a timer, a stream or watch callback, the
  // cluster's start, which runs beside the local one) must not end the
  // daemon that every container's networking depends on: it is logged with
  // its stack and the daemon goes on (the store is the truth; the next start
  // reconciles whatever the fault left half done). From the start: the
  // cluster's background work begins before the API listens.
  process.on('unhandledRejection', (e: unknown) =>
    log.error(`unhandled rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`),
  );
  process.on('uncaughtException', (e: Error) =>
    log.error(`uncaught exception: ${e.stack ?? e.message}`),
  );
  mkdirSync(flags.dataRoot, { recursive: true, mode: 0o710 });
  mkdirSync(flags.execRoot, { recursive: true, mode: 0o700 });
  // Their real paths, as dockerd takes them: the kernel names mounts by real
  // paths, and a data root moved to another disk behind a symlink must not
  // hide the mounts under it from the checks before a recursive delete.
  flags = {
    ...flags,
    dataRoot: realpathSync(flags.dataRoot),
    execRoot: realpathSync(flags.execRoot),
  };
  const unlock = lockDataRoot(flags.dataRoot);
  const started = new Date();
  const id = daemonId(flags.dataRoot);
  const cluster = flags.clusterStore
    ? await joinCluster(
        storeConfig(flags.clusterStore, flags.clusterStoreOpts),
        discovery(flags.clusterStoreOpts),
        {
          Addr: advertise!,
          Name: hostname(),
          ID: id,
          Version: VERSION,
          StartedAt: started.toISOString(),
        },
        log,
      )
    : undefined;

  const kv = await openEmbeddedStore(flags.dataRoot);
  const repo = new ContainerRepo(kv);
  await repo.load();
  const images = await ImageStore.open(flags.dataRoot, kv, {
    isInUse: (id: string) => {
      const c = repo.all().find((x) => x.ImageID === id);
      return c && { containerId: c.Id, running: c.State.Status === 'running' };
    },
    builtinCache: flags.builtinCache,
  });
  await images.ensureBuiltins();
  const ipam = await Ipam.open(
    kv,
    flags.defaultAddressPools.length ? { defaultPools: flags.defaultAddressPools } : {},
  );
  const rtnl = Rtnl.open();
  const firewall = new NftFirewall();
  try {
    // Trace tables of a `network trace` the last daemon did not finish (decision 0033).
    const left = sweepTraceTables(firewall.nft);
    if (left.length) log.info(`removed trace tables left behind: ${left.join(', ')}`);
  } catch (e) {
    log.warn(`trace tables: ${messageOf(e)}`);
  }
  const dnsConfig = daemonDns(flags);
  const dns = new DnsResolver({
    upstreams: dnsConfig.daemonServers.filter((a) => !/^127\.|^::1$/.test(a)),
    onError: (m) => log.warn(`dns: ${m}`),
  });
  const networks = await NetworkController.open({
    kv,
    execRoot: flags.execRoot,
    ipam,
    rtnl,
    firewall,
    conntrack: Conntrack.open(),
    dns,
    log,
    global: cluster && {
      scope: cluster.networks,
      vtep: cluster.vtep,
      convergence: cluster.convergence,
      hosts: async () =>
        (await cluster.nodes.list()).map((n) => ({ address: n.Addr, name: n.Name })),
    },
    bip: flags.bip,
    mtu: flags.mtu,
    defaultBridge: {
      icc: flags.icc,
      ipMasq: flags.ipMasq,
      ip: flags.ip,
      fixedCidr: flags.fixedCidr,
      ipv6: flags.ipv6,
      fixedCidrV6: flags.fixedCidrV6,
    },
  });
  const runtimeBin = chooseRuntime(flags.runtime);
  const runtime = new Runtime(runtimeBin, join(flags.execRoot, 'runc'));
  const events = new EventBus();
  const volumes = new VolumeService(kv, flags.dataRoot, events, log);
  volumes.users = (name) => volumeUsers(repo.all(), name);
  await volumes.load();
  const roots = { dataRoot: flags.dataRoot, execRoot: flags.execRoot };
  const containers = new ContainerService(
    repo,
    images,
    networks,
    volumes,
    runtime,
    events,
    roots,
    dnsConfig,
    log,
    { liveRestore: flags.liveRestore, hostGatewayIp: flags.hostGatewayIp },
  );
  const execs = new ExecService(containers, runtime, roots);
  await containers.recover();
  await volumes.sweep();
  // Containers do not reach the cluster's etcd members and hosts' APIs (decision 0040).
  cluster?.keepContainersOff((list) => networks.setControlPlane(list));
  // This host's endpoints against the cluster's, now and after every registration.
  cluster?.rejoin(networks.endpoints, (ep) =>
    containers.networking.disconnect(ep.ContainerID, ep.NetworkID, true),
  );
  const builder = await Builder.open(
    {
      images,
      containers,
      cache: new BuildCache(kv, async (id) => (await images.resolve(id)) !== undefined),
      version: VERSION,
    },
    flags.dataRoot,
  );

  const services: Services = {
    containers,
    execs,
    images,
    networks,
    volumes,
    events,
    builder,
    info: {
      id,
      version: VERSION,
      dataRoot: flags.dataRoot,
      execRoot: flags.execRoot,
      runtime: runtimeBin,
      runtimeVersion: await runtime.version(),
      ...buildInfo(),
      startedAt: started,
      name: hostname(),
      kernelVersion: release(),
      operatingSystem: osName(),
      memTotal: totalmem(),
      ncpu: cpus().length,
      clusterStore: flags.clusterStore?.url,
      clusterAdvertise: advertise,
      liveRestore: flags.liveRestore,
      warnings: apiWarnings(flags.hosts, flags),
    },
  };
  // The far side of `network trace` across hosts (decision 0033), through the cluster store.
  let stopTracePeer: (() => void) | undefined;
  if (cluster) {
    const kvc = cluster.kv;
    services.tracePeer = (node, req) => askPeer(kvc, node, req);
    stopTracePeer = await servePeer(
      kvc,
      advertise!,
      async (req) => {
        const netns = networks.overlayPath(req.networkId);
        if (!netns || !isNetns(netns)) throw new Error('the overlay network is not on this host');
        const armed = await armArrival(
          { dst: req.dst, proto: req.proto, overlay: { netns, vni: req.vni } },
          req.tag,
        );
        return {
          finish: async () => {
            const found = await armed.finish();
            const listening = listeningIn(
              networks.sandboxHolding(req.networkId, req.dst),
              req.dst,
              req.port,
              req.proto,
            );
            return { ...found, ...(listening !== undefined ? { listening } : {}) };
          },
        };
      },
      log,
    );
  }
  const router = apiRouter(services);
  const servers: Server[] = [];
  for (const h of flags.hosts) {
    const server = createApiServer(router, log, {
      ...(h.proto === 'tcp' ? { tls } : {}),
      peerUnread: unreadBySocketPeer,
    });
    servers.push(server);
    await listen(server, h);
  }
  const web = flags.web;
  const live = web && webRouter(services, log, { port: web.port, loopback: isLoopback(web.host) });
  if (web && live) {
    // The live view (decision 0034): its own router, nothing of the Engine API.
    const server = createApiServer(live.router, log, { tls });
    servers.push(server);
    await listen(server, { proto: 'tcp', host: web.host, port: web.port });
    log.info(`live view on ${tls ? 'https' : 'http'}://${webString(web)}/`);
  }
  const where = flags.hosts
    .map(
      (h) =>
        hostString(h) +
        (h.proto === 'tcp' && tls ? (tls.verifyClients ? ' (mutual TLS)' : ' (TLS)') : ''),
    )
    .join(', ');
  log.info(
    `berthd ${VERSION} listening on ${where} (data-root ${flags.dataRoot}, runtime ${runtimeBin})`,
  );

  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info(
      `received ${sig}, shutting down (${flags.liveRestore ? 'containers keep running: --live-restore' : 'stopping the containers'})`,
    );
    live?.close();
    for (const server of servers) {
      server.close();
      server.closeAllConnections();
    }
    // Without --live-restore, as dockerd: the containers stop with the daemon.
    void (flags.liveRestore ? Promise.resolve() : containers.stopAll())
      .catch((e: unknown) => log.warn(`stopping containers: ${messageOf(e)}`))
      .then(() => containers.close())
      .then(() => networks.close())
      .catch((e: unknown) => log.warn(`deleting links: ${messageOf(e)}`))
      .then(() => stopTracePeer?.())
      .then(() => cluster?.close())
      .then(() => kv.close())
      .catch(() => undefined)
      .finally(() => {
        for (const h of flags.hosts) if (h.proto === 'unix') rmSync(h.path, { force: true });
        unlock();
        process.exit(0);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return -1;
}

/**
 * Connects to the cluster store and registers this host there, in the
 * background: a store that is down delays neither the start nor local work.
 */
async function joinCluster(
  config: EtcdStoreOptions,
  lease: { ttl: number; heartbeat: number },
  self: NodeInfo,
  log: Logger,
): Promise<{
  kv: KvStore;
  nodes: NodeRegistry;
  networks: GlobalNetworks;
  convergence: Convergence;
  vtep: string;
  rejoin(local: HostEndpoints, onLost: (ep: EndpointRecord) => Promise<void>): void;
  keepContainersOff(apply: (list: Endpoint[]) => void): void;
  close(): Promise<void>;
}> {
  const kv = await openClusterStore(
    { ...config, onWatchError: (e) => log.warn(`cluster store watch: ${messageOf(e)}`) },
    false,
  );
  const nodes = new NodeRegistry(kv, self, {
    ttlSeconds: lease.ttl,
    heartbeatSeconds: lease.heartbeat,
    log,
  });
  nodes.start();
  // The tunnel source: the advertise address without its port.
  const vtep = self.Addr.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  const networks = GlobalNetworks.start(kv, log, { node: self.Addr, vtep });
  // At once: it must see the endpoints' first list (decision 0023).
  const convergence = new Convergence(kv, {
    node: self.Addr,
    lease: () => nodes.leaseId,
    endpoints: networks.endpoints,
    log,
  });
  // Dead hosts' endpoints and addresses leave the cluster.
  const reaper = new Reaper(kv, networks, self.Addr, log);
  let rejoin: Rejoin | undefined;
  let control: ControlPlane | undefined;
  log.info(
    `cluster store ${config.endpoints.join(',')}${config.tls ? ' (TLS)' : ''}, advertise ${self.Addr}`,
  );
  return {
    kv,
    nodes,
    networks,
    convergence,
    vtep,
    rejoin: (local, onLost) => {
      const r = new Rejoin(networks, local, self.Addr, log, onLost);
      networks.onUnsettled = () => r.settle();
      r.follow(nodes);
      rejoin = r;
    },
    keepContainersOff: (apply) => {
      control = new ControlPlane(kv, {
        configured: config.endpoints,
        members: () => kv.memberUrls(),
        apply,
        log,
      });
    },
    close: async () => {
      convergence.close();
      control?.close();
      rejoin?.close();
      reaper.close();
      // Containers keep running: with endpoints in the cluster, the node
      // stays until its lease expires (a restart within the TTL changes nothing).
      const keep = networks.hasOwnEndpoints();
      networks.close();
      await nodes.close({ revoke: !keep });
      await kv.close();
    },
  };
}

/** Commit and build time recorded by `npm run build` (scripts/build-info.mjs). */
function buildInfo(): { gitCommit: string; buildTime: string } {
  try {
    const path = new URL('../../build-info.json', import.meta.url);
    return JSON.parse(readFileSync(path, 'utf8')) as { gitCommit: string; buildTime: string };
  } catch {
    return { gitCommit: 'unknown', buildTime: '' };
  }
}

function osName(): string {
  try {
    const m = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e) => {
    process.stderr.write(`berthd: ${messageOf(e)}\n`);
    process.exit(1);
  },
);
