/**
 * Container lifecycle: create, start, stop, kill, restart, remove, wait, and
 * the recovery of running containers when the daemon restarts. The process of
 * each running container is owned by a shim (kernel/runtime), so the daemon
 * can die and come back without losing it, its output or its exit code.
 *
 * ContainerService is the facade the API, the builder and the daemon call;
 * the work is done by the parts that share its Lifecycle (lifecycle.ts):
 * create.ts, start.ts, exit.ts (exits and restart policies), stop.ts,
 * remove.ts, recover.ts, networking.ts (joins, connect, disconnect, files),
 * with paths.ts and sync.ts (locks, waiters).
 */
import { BerthError, conflict, invalid, messageOf, notFound } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { EventBus } from '../events/bus.js';
import { cgroupPids, guessDirs, type CgroupDirs } from '../kernel/cgroup.js';
import { Runtime, shimResize } from '../kernel/runtime/runtime.js';
import type { NetworkController } from '../network/controller.js';
import { attachOpener } from './attach.js';
import type { DaemonDns } from './bundle.js';
import { checkName } from './config.js';
import { createContainer } from './create.js';
import { onExit, RestartPolicy, watchExit } from './exit.js';
import { runProbe } from './exec.js';
import { HealthMonitors } from './health.js';
import type { ImageLookup, Lifecycle, PendingAttach } from './lifecycle.js';
import { ContainerNetworking } from './networking.js';
import { ContainerDirs, type ContainerPaths } from './paths.js';
import { withRootfs, type RootfsUse } from './fsaccess.js';
import { treeSize } from '../kernel/pack.js';
import { pause, unpause } from './pause.js';
import { recover } from './recover.js';
import { cleanupRuntime, remove, removeLocked } from './remove.js';
import type { ContainerRepo } from './repo.js';
import { startLocked } from './start.js';
import { kill, shutdownContainer, stop, stopForRestart } from './stop.js';
import { ContainerLocks, isLive, Waiters } from './sync.js';
import type { ContainerRecord } from './types.js';
import { updateContainer } from './update.js';
import type { VolumeService } from '../volumes/service.js';

export type { ContainerPaths, DaemonDns, ImageLookup, PendingAttach };

export class ContainerService {
  /** Endpoint settings, hosts/resolv.conf, network connect and disconnect. */
  readonly networking: ContainerNetworking;
  /** What the lifecycle's parts share (lifecycle.ts). */
  private readonly life: Lifecycle;

  constructor(
    private readonly repo: ContainerRepo,
    images: ImageLookup,
    networks: NetworkController,
    volumes: VolumeService,
    runtime: Runtime,
    private readonly events: EventBus,
    paths: ContainerPaths,
    dns: DaemonDns,
    private readonly log: Logger,
    opts: { liveRestore: boolean; hostGatewayIp?: string },
  ) {
    const dirs = new ContainerDirs(paths);
    const locks = new ContainerLocks(repo);
    this.networking = new ContainerNetworking({
      repo,
      networks,
      events,
      dns,
      log,
      dir: (id) => dirs.dir(id),
      hostGatewayIp: opts.hostGatewayIp,
      locked: (id, fn) =>
        locks.locked(id, () => {
          // Removed while this waited for the lock: its record must not be written again.
          if (!this.repo.find(id)) throw notFound(`No such container: ${id}`);
          return fn();
        }),
    });
    const stopping = new Set<string>();
    const removing = new Set<string>();
    const waiters = new Waiters();
    const start = (c: ContainerRecord) => startLocked(this.life, c);
    this.life = {
      repo,
      images,
      networks,
      volumes,
      runtime,
      dns,
      log,
      paths: dirs,
      networking: this.networking,
      locks,
      waiters,
      liveRestore: opts.liveRestore,
      restarts: new RestartPolicy({
        repo,
        log,
        locks,
        waiters,
        stopping,
        removing,
        startLocked: start,
      }),
      stopping,
      removing,
      health: new HealthMonitors({
        probe: (c, argv, timeoutNs) =>
          runProbe(
            {
              runtime,
              links: this.networking.linksOf(c),
              stateDir: dirs.stateDir(c.Id),
              emit: (action, extra) => this.emit(c, action, extra),
            },
            c,
            argv,
            timeoutNs,
          ),
        current: (id) => repo.find(id),
        save: (c) => repo.save(c),
        emit: (c, action) => this.emit(c, action),
        warn: (m) => log.warn(m),
      }),
      pendingAttach: new Map(),
      emit: (c, action, extra) => this.emit(c, action, extra),
      wait: (ref, condition) => this.wait(ref, condition),
      startLocked: start,
      watchExit: (c) => watchExit(this.life, c),
      onExit: (c, st) => onExit(this.life, c, st),
      removeLocked: (c, force, vols) => removeLocked(this.life, c, force, vols),
      cleanupRuntime: (c) => cleanupRuntime(this.life, c),
    };
  }

  // ---- lookup ------------------------------------------------------------

  /** Every container's record. */
  list(): ContainerRecord[] {
    return this.repo.all();
  }
  /** The container a full ID, a name (with or without "/") or a unique ID prefix names. */
  find(ref: string): ContainerRecord | undefined {
    return this.repo.find(ref);
  }
  /** Like find, but 404 `No such container: ref`. */
  get(ref: string): ContainerRecord {
    return this.repo.get(ref);
  }

  // ---- paths -------------------------------------------------------------

  /** The container's own directory in the data-root (files, log, bundle). */
  dir(id: string): string {
    return this.life.paths.dir(id);
  }
  /** The overlay directories of the root filesystem over `lower` (the image's layers), as inspect shows them. */
  graphDriverData(id: string, lower: string[]): Record<string, string> {
    return this.life.paths.graphDriverData(id, lower);
  }
  /** The upper directory of the container's root filesystem: what the container changed. */
  upperDir(id: string): string {
    return this.life.paths.upperDir(id);
  }
  logPath(id: string): string {
    return this.life.paths.logPath(id);
  }
  /** The container's cgroup directories (runc's record, else where its cgroupsPath puts them). */
  cgroupDirs(id: string): CgroupDirs {
    return this.life.runtime.cgroupPaths(id) ?? guessDirs(`/berth/${id}`);
  }
  /** The PIDs in the container's cgroup (its processes, as seen from the host). */
  cgroupPids(id: string): number[] {
    return cgroupPids(this.cgroupDirs(id));
  }
  /** Runs `fn` with the container's root filesystem mounted (fsaccess.ts). */
  withRootfs<T>(
    ref: string,
    mode: { write: boolean; freeze?: boolean },
    fn: RootfsUse<T>,
  ): Promise<T> {
    return withRootfs(this.life, this.repo.get(ref), mode, fn);
  }

  // ---- lifecycle ---------------------------------------------------------

  /** POST /containers/create. Returns the new ID and warnings. */
  async create(body: unknown, name?: string): Promise<{ Id: string; Warnings: string[] }> {
    const { record, warnings } = await createContainer(this.life, body, name);
    this.emit(record, 'create');
    return { Id: record.Id, Warnings: warnings };
  }

  /** POST /containers/{id}/start. */
  async start(ref: string): Promise<void> {
    const c = this.repo.get(ref);
    await this.life.locks.lockedLive(c, async () => {
      if (c.State.Status === 'running' && c.State.Paused) {
        throw conflict('cannot start a paused container, try unpause instead');
      }
      if (isLive(c)) throw new BerthError('NOT_MODIFIED', 'container already started');
      this.life.restarts.reset(c);
      try {
        await startLocked(this.life, c);
      } catch (e) {
        // As Docker: a --rm container that fails to start is removed (its waiters wake).
        if (c.HostConfig.AutoRemove && c.State.Status !== 'running') {
          await removeLocked(this.life, c, true, true).catch((err) =>
            this.log.error(`auto-remove: ${messageOf(err)}`),
          );
        }
        throw e;
      }
    });
  }

  /** POST /containers/{id}/wait: resolves with the exit code. */
  wait(ref: string, condition = 'not-running'): Promise<number> {
    return this.life.waiters.wait(this.repo.get(ref), condition);
  }

  /** POST /containers/{id}/stop: signal, wait `timeout` seconds, then SIGKILL. */
  async stop(ref: string, timeout?: number, signal?: string): Promise<void> {
    await stop(this.life, this.repo.get(ref), timeout, signal);
  }

  /** POST /containers/{id}/kill. */
  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    await kill(this.life, this.repo.get(ref), ref, signal);
  }

  /** POST /containers/{id}/pause: the cgroup freezer (pause.ts). */
  async pause(ref: string): Promise<void> {
    await pause(this.life, this.repo.get(ref));
  }

  /** POST /containers/{id}/unpause. */
  async unpause(ref: string): Promise<void> {
    await unpause(this.life, this.repo.get(ref));
  }

  /** POST /containers/{id}/restart. */
  async restart(ref: string, timeout?: number): Promise<void> {
    const c = this.repo.get(ref);
    await stopForRestart(this.life, c, timeout);
    await this.life.locks.lockedLive(c, async () => {
      this.life.restarts.reset(c);
      await startLocked(this.life, c);
    });
    this.emit(c, 'restart');
  }

  /**
   * POST /containers/{id}/rename: the name, its DNS records, --link entries
   * naming it and its endpoints' names change in one transaction.
   */
  async rename(ref: string, newName: string): Promise<void> {
    if (!newName) throw invalid('Neither old nor new names may be empty');
    const c = this.repo.get(ref);
    let name: string;
    try {
      name = checkName(`/${newName.replace(/^\//, '')}`);
    } catch (e) {
      throw invalid(`Error when allocating new name: ${messageOf(e)}`);
    }
    if (name === c.Name)
      throw invalid('Renaming a container with the same name as its current name');
    const oldName = c.Name;
    await this.life.locks.lockedLive(c, async () => {
      const r = await this.networking.renamed(c, name);
      await this.repo.rename(c, r.next, r.ops).catch(async (e: unknown) => {
        await r.undo();
        throw e;
      });
      Object.assign(c, r.next);
      // Committed: the names first (this also ends the rename's mark for the cluster's reconcile).
      r.publish();
      for (const p of r.parents) Object.assign(this.repo.get(p.Id), p);
    });
    this.emit(c, 'rename', { oldName });
  }

  /** Bytes the container changed in its root filesystem (dockerd's SizeRw). */
  sizeRw(id: string): Promise<number> {
    return treeSize(this.life.paths.upperDir(id));
  }

  /** Whether a removal of the container is under way. */
  isRemoving(id: string): boolean {
    return this.life.removing.has(id);
  }

  /** POST /containers/{id}/update: new limits (and restart policy); returns the warnings. */
  update(ref: string, body: unknown): Promise<string[]> {
    return updateContainer(this.life, this.repo.get(ref), body);
  }

  /** DELETE /containers/{id}; `volumes` (`rm -v`) removes its anonymous volumes too. */
  async remove(ref: string, force: boolean, volumes = false): Promise<void> {
    await remove(this.life, this.repo.get(ref), force, volumes);
  }

  // ---- attach ------------------------------------------------------------

  /**
   * Calls `onReady(open)` when the container's shim accepts attach
   * connections: now if it runs, else at its next start (before the process
   * runs, so no output is missed).
   */
  whenAttachable(ref: string, onReady: PendingAttach): void {
    const c = this.repo.get(ref);
    if (c.State.Status === 'running') {
      onReady(attachOpener(this.life.paths.stateDir(c.Id)));
      return;
    }
    const pending = this.life.pendingAttach;
    const waiting = pending.get(c.Id) ?? [];
    waiting.push(onReady);
    pending.set(c.Id, waiting);
  }

  /**
   * POST /containers/{id}/resize: the pseudo-terminal of a running
   * container's process (a shim that cannot be reached is ignored).
   */
  async resize(ref: string, h: number, w: number): Promise<void> {
    const c = this.repo.get(ref);
    if (c.State.Status !== 'running') throw invalid(`Container ${c.Id} is not running`);
    await shimResize(this.life.paths.stateDir(c.Id), h, w).catch(() => undefined);
  }

  /** Forgets a pending attach (its client went away before start). */
  dropPendingAttach(ref: string, onReady: PendingAttach): void {
    const c = this.repo.find(ref);
    if (!c) return;
    const pending = this.life.pendingAttach;
    const rest = (pending.get(c.Id) ?? []).filter((x) => x !== onReady);
    if (rest.length) pending.set(c.Id, rest);
    else pending.delete(c.Id);
  }

  // ---- daemon ------------------------------------------------------------

  /**
   * After a daemon (re)start: re-follow containers whose shim still runs,
   * record the exits that happened while the daemon was away, clean up
   * anything the runtime has that the store doesn't, and remove what a
   * removed container's late save left. Restarts (restart policies) wait
   * until all that is done.
   */
  async recover(): Promise<void> {
    await recover(this.life);
  }

  /**
   * Daemon shutdown without --live-restore: every running container is
   * stopped with its stop signal and timeout (not by hand: the next daemon
   * starts it by its restart policy). Resolves when all have exited.
   */
  async stopAll(): Promise<void> {
    this.life.restarts.close();
    const running = this.repo.all().filter((c) => c.State.Status === 'running');
    await Promise.all(
      running.map((c) =>
        shutdownContainer(this.life, c).catch((e) =>
          this.log.warn(`stopping ${c.Id.slice(0, 12)}: ${messageOf(e)}`),
        ),
      ),
    );
  }

  /** Daemon shutdown: pending restarts are dropped (the next daemon schedules them again). */
  close(): void {
    this.life.restarts.close();
    this.life.health.close();
  }

  emit(c: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.events.publish('container', action, c.Id, {
      ...c.Config.Labels,
      image: c.Image,
      name: c.Name.slice(1),
      ...extra,
    });
  }
}
