/**
 * What the parts of a container's life share: the service's collaborators,
 * the per-container state (locks, waiters, containers being stopped or
 * removed, clients waiting to attach, the restart policy) and the steps the
 * parts call on one another. ContainerService (service.ts) builds one and
 * hands it to create.ts, start.ts, exit.ts, stop.ts, remove.ts and
 * recover.ts, which call one another's steps through it (so no import
 * cycle ties them), and which other layers reach only through the service.
 */
import type { ExitStatus, Runtime } from '../kernel/runtime/runtime.js';
import type { Logger } from '../common/log.js';
import type { NetworkController } from '../network/controller.js';
import type { OpenAttach } from './attach.js';
import type { DaemonDns } from './bundle.js';
import type { ImageConfig } from './config.js';
import type { ContainerNetworking } from './networking.js';
import type { ContainerDirs } from './paths.js';
import type { ContainerRepo } from './repo.js';
import type { RestartPolicy } from './exit.js';
import type { HealthMonitors } from './health.js';
import type { ContainerLocks, Waiters } from './sync.js';
import type { ContainerRecord } from './types.js';
import type { VolumeService } from '../volumes/service.js';

/** An image as the container service sees it. */
export interface ImageFound {
  id: string;
  config: { config?: ImageConfig };
  layerDirs: string[];
  repoTags: string[];
}

/** What the container service needs from the image store. */
export interface ImageLookup {
  /** The image `ref` (name, id or id prefix) names, or undefined. */
  resolve(ref: string): Promise<ImageFound | undefined>;
}

/**
 * A client waiting to attach to a container: called with the opener of its
 * attach connection once the container's shim accepts them.
 */
export type PendingAttach = (open: OpenAttach) => void;

export interface Lifecycle {
  repo: ContainerRepo;
  images: ImageLookup;
  networks: NetworkController;
  volumes: VolumeService;
  runtime: Runtime;
  dns: DaemonDns;
  log: Logger;
  paths: ContainerDirs;
  networking: ContainerNetworking;
  locks: ContainerLocks;
  waiters: Waiters;
  restarts: RestartPolicy;
  /** --live-restore: containers outlive the daemon (else it stops them, and starts them by policy). */
  liveRestore: boolean;
  /** Healthcheck probes of the running containers (health.ts). */
  health: HealthMonitors;
  /**
   * Containers stopped on purpose: their next exit restarts nothing and a
   * restart they wait for is called off (Docker's ExitOnNext).
   */
  stopping: Set<string>;
  /** Containers being removed: from then on nothing starts them again. */
  removing: Set<string>;
  /** Clients waiting for a container's next start to attach. */
  pendingAttach: Map<string, PendingAttach[]>;
  /** Publishes a container event (docker events). */
  emit(c: ContainerRecord, action: string, extra?: Record<string, string>): void;
  /** POST /containers/{id}/wait, as the service answers it. */
  wait(ref: string, condition?: string): Promise<number>;
  /** start.ts: starts `c` (its lock held). */
  startLocked(c: ContainerRecord): Promise<void>;
  /** exit.ts: follows the shim until the process exits, then records it. */
  watchExit(c: ContainerRecord): void;
  /** exit.ts: records an exit (its lock held). */
  onExit(c: ContainerRecord, st: ExitStatus | undefined): Promise<void>;
  /** remove.ts: removes a stopped `c` (its lock held), its anonymous volumes with `volumes`. */
  removeLocked(c: ContainerRecord, force: boolean, volumes?: boolean): Promise<void>;
  /** remove.ts: undoes what start did (runtime record, rootfs, sandbox), best-effort. */
  cleanupRuntime(c: ContainerRecord): Promise<void>;
}
