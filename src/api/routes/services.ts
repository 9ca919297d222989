/** Everything the API routes call into, built once by the daemon. */
import type { Builder } from '../../build/builder.js';
import type { ContainerService } from '../../containers/service.js';
import type { ExecService } from '../../containers/exec.js';
import type { EventBus } from '../../events/bus.js';
import type { ImageStore } from '../../images/store.js';
import type { NetworkController } from '../../network/controller.js';
import type { VolumeService } from '../../volumes/service.js';
import type { AskPeer } from '../../network/trace/index.js';

export interface DaemonInfo {
  /** Daemon ID (stable per data-root). */
  id: string;
  version: string;
  dataRoot: string;
  execRoot: string;
  runtime: string;
  /** The runtime's own version line (e.g. "1.1.5+ds1"). */
  runtimeVersion: string;
  /** The commit Berth was built from, when known. */
  gitCommit: string;
  /** When the daemon's code was built (RFC 3339). */
  buildTime: string;
  startedAt: Date;
  name: string;
  kernelVersion: string;
  operatingSystem: string;
  memTotal: number;
  ncpu: number;
  /** --cluster-store as given; undefined without one (`docker info` then omits it, as 20.10). */
  clusterStore?: string;
  /** --cluster-advertise resolved to an address (an interface name becomes its IPv4). */
  clusterAdvertise?: string;
  /** --live-restore. */
  liveRestore: boolean;
  /** Daemon-level warnings for `docker info` (TCP listeners without full TLS). */
  warnings: string[];
}

export interface Services {
  containers: ContainerService;
  execs: ExecService;
  images: ImageStore;
  networks: NetworkController;
  volumes: VolumeService;
  events: EventBus;
  /** The classic builder (POST /build). */
  builder: Builder;
  info: DaemonInfo;
  /** In a cluster: asks another host to trace a probe's arrival (`network trace`). */
  tracePeer?: AskPeer;
}
