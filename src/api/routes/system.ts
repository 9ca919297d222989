/** /_ping, /version, /info, /events. */
import { goArch, unameMachine } from '../../common/arch.js';
import { writeOrDrop } from '../flow.js';
import { json, type Router } from '../server.js';
import { parseFilters } from '../../common/validate.js';
import type { BerthEvent } from '../../events/bus.js';
import type { Services } from './services.js';

/** The Engine API version Berth advertises (CLI 29 refuses servers below 1.44). */
export const API_VERSION = '1.47';
export const MIN_API_VERSION = '1.24';

function pingHeaders() {
  return {
    'Api-Version': API_VERSION,
    Ostype: 'linux',
    'Docker-Experimental': 'false',
    Swarm: 'inactive',
    // the classic builder, as Docker 20.10 advertises it (BuildKit would be "2")
    'Builder-Version': '1',
    'Cache-Control': 'no-cache, no-store, must-revalidate',
    Pragma: 'no-cache',
  };
}

function eventMatches(e: BerthEvent, f: Map<string, string[]>): boolean {
  for (const [k, vals] of f) {
    if (!vals.length) continue;
    const ok = (() => {
      switch (k) {
        case 'type':
          return vals.includes(e.Type);
        case 'event':
          return vals.some((v) => e.Action === v || e.Action.startsWith(`${v}:`));
        case 'container':
          return (
            e.Type === 'container' &&
            vals.some((v) => e.Actor.ID.startsWith(v) || e.Actor.Attributes.name === v)
          );
        case 'image':
          return vals.some((v) => e.Actor.Attributes.image === v || e.Actor.ID === v);
        case 'volume':
          return e.Type === 'volume' && vals.includes(e.Actor.ID);
        case 'network':
          return (
            e.Type === 'network' &&
            vals.some((v) => e.Actor.ID.startsWith(v) || e.Actor.Attributes.name === v)
          );
        case 'label':
          return vals.every((v) => {
            const i = v.indexOf('=');
            return i < 0
              ? v in e.Actor.Attributes
              : e.Actor.Attributes[v.slice(0, i)] === v.slice(i + 1);
          });
        default:
          return true;
      }
    })();
    if (!ok) return false;
  }
  return true;
}

export function systemRoutes(r: Router, s: Services): void {
  r.on('GET', '/_ping', async ({ req, res }) => {
    res!.writeHead(200, {
      ...pingHeaders(),
      'Content-Type': 'text/plain; charset=utf-8',
      // dockerd's HEAD /_ping says 0: it writes no body.
      'Content-Length': req.method === 'HEAD' ? 0 : 2,
    });
    res!.end(req.method === 'HEAD' ? undefined : 'OK');
  });

  r.on('GET', '/version', async ({ res }) => {
    const i = s.info;
    // The engine's details, once: top level and as the Engine component.
    const engine = {
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: i.gitCommit,
      GoVersion: `node${process.versions.node}`,
      Os: 'linux',
      Arch: goArch(),
      KernelVersion: i.kernelVersion,
      BuildTime: i.buildTime,
    };
    json(res!, 200, {
      Platform: { Name: 'Berth' },
      Components: [
        { Name: 'Engine', Version: i.version, Details: { ...engine, Experimental: 'false' } },
        { Name: 'runc', Version: i.runtimeVersion, Details: { GitCommit: '' } },
      ],
      Version: i.version,
      // dockerd's top-level Experimental is omitted unless true.
      ...engine,
    });
  });

  r.on('GET', '/info', async ({ res }) => {
    const i = s.info;
    const all = s.containers.list();
    const running = all.filter((c) => c.State.Status === 'running').length;
    json(res!, 200, {
      ID: i.id,
      Containers: all.length,
      ContainersRunning: running,
      ContainersPaused: 0,
      ContainersStopped: all.length - running,
      Images: s.images.list().length,
      Driver: 'overlay2',
      DriverStatus: [['Backing Filesystem', 'extfs']],
      Plugins: {
        Volume: ['local'],
        Network: ['bridge', 'host', 'null'],
        Authorization: null,
        Log: ['json-file'],
      },
      MemoryLimit: true,
      // Limits Berth does not apply yet (issue 14).
      CPUShares: false,
      CPUSet: false,
      PidsLimit: false,
      OomKillDisable: false,
      KernelMemory: false,
      KernelMemoryTCP: false,
      SwapLimit: false,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      IPv4Forwarding: true,
      BridgeNfIptables: false,
      BridgeNfIp6tables: false,
      Debug: false,
      NFd: 0,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'json-file',
      CgroupDriver: 'cgroupfs',
      CgroupVersion: '1',
      NEventsListener: 0,
      KernelVersion: i.kernelVersion,
      OperatingSystem: i.operatingSystem,
      OSVersion: '',
      OSType: 'linux',
      Architecture: unameMachine(),
      IndexServerAddress: '',
      // Berth pulls from no registry: its images are built in or loaded.
      RegistryConfig: {
        AllowNondistributableArtifactsCIDRs: [],
        AllowNondistributableArtifactsHostnames: [],
        IndexConfigs: {},
        InsecureRegistryCIDRs: [],
        Mirrors: [],
      },
      GenericResources: null,
      HttpProxy: '',
      HttpsProxy: '',
      NoProxy: '',
      NCPU: i.ncpu,
      MemTotal: i.memTotal,
      DockerRootDir: i.dataRoot,
      Name: i.name,
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: i.version,
      Runtimes: { runc: { path: i.runtime } },
      DefaultRuntime: 'runc',
      Swarm: {
        NodeID: '',
        NodeAddr: '',
        LocalNodeState: 'inactive',
        ControlAvailable: false,
        Error: '',
        RemoteManagers: null,
      },
      // omitempty in 20.10's types.Info: present only with a cluster store.
      ...(i.clusterStore !== undefined && { ClusterStore: i.clusterStore }),
      ...(i.clusterAdvertise !== undefined && { ClusterAdvertise: i.clusterAdvertise }),
      LiveRestoreEnabled: i.liveRestore,
      // No containerd and no init binary; runc's own version as its commit.
      ContainerdCommit: { ID: '', Expected: '' },
      RuncCommit: { ID: i.runtimeVersion, Expected: i.runtimeVersion },
      InitCommit: { ID: '', Expected: '' },
      Isolation: '',
      InitBinary: '',
      // Every container that is not privileged or unconfined gets Docker's
      // default profile (decision 0016); Berth has no AppArmor, SELinux,
      // user-namespace or cgroup-namespace options to list.
      SecurityOptions: ['name=seccomp,profile=default'],
      Warnings: i.warnings,
    });
  });

  r.on('GET', '/events', async ({ res, query }) => {
    const f = parseFilters(query.get('filters'));
    const since = query.get('since') ? Number(query.get('since')) : undefined;
    const until = query.get('until') ? Number(query.get('until')) : undefined;
    res!.writeHead(200, { 'Content-Type': 'application/json' });
    res!.flushHeaders();
    const send = (e: BerthEvent) => {
      // A listener that does not read is dropped once far behind (its
      // 'close' unsubscribes it), not given an ever-growing backlog.
      if (eventMatches(e, f)) writeOrDrop(res!, JSON.stringify(e) + '\n');
    };
    if (since !== undefined)
      for (const e of s.events.since(since)) if (!until || e.time <= until) send(e);
    if (until !== undefined && until * 1000 <= Date.now()) {
      res!.end();
      return;
    }
    const off = s.events.subscribe(send);
    const timer =
      until !== undefined ? setTimeout(() => res!.end(), until * 1000 - Date.now()) : undefined;
    res!.on('close', () => {
      off();
      if (timer) clearTimeout(timer);
    });
  });
}
