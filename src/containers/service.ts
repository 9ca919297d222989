/**
 * Container lifecycle: create, start, stop, kill, restart, remove, wait, and
 * the recovery of running containers when the daemon restarts. The process of
 * each running container is owned by a shim (kernel/runtime), so the daemon
 * can die and come back without losing it, its output or its exit code.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { constants as osConstants, hostname as osHostname } from 'node:os';
import { basename, join } from 'node:path';
import { BerthError, conflict, invalid, messageOf, notFound } from '../common/errors.js';
import type { EventBus } from '../events/bus.js';
import {
  Runtime,
  RuntimeError,
  pidAlive,
  readExit,
  shimResize,
  waitExit,
  type ExitStatus,
} from '../kernel/runtime/runtime.js';
import { mountOverlay, mountsUnder, unmountAll, unmountAndRemove } from '../kernel/mount/mounts.js';
import type { NetworkController } from '../network/controller.js';
import { emptyEndpointSettings } from '../network/types.js';
import { Stopwatch } from '../common/stopwatch.js';
import { waitForPath } from '../common/wait.js';
import {
  checkName,
  checkStoredHostConfig,
  mergeWithImage,
  parseCreate,
  type ImageConfig,
} from './config.js';
import { attachOpener, type OpenAttach } from './attach.js';
import { writeBundle, type DaemonDns } from './bundle.js';
import { normaliseLinks } from './links.js';
import { parseLink } from '../network/links/links.js';
import { PREDEFINED } from '../network/records.js';
import { generatedName, normalizeRef } from './names.js';
import type { ContainerRepo } from './repo.js';
import type { ContainerRecord } from './types.js';
import {
  ContainerNetworking,
  configuredEndpoint,
  endpointConfigFor,
  gatewayNetwork,
  joinOptions,
  joinedSettings,
} from './networking.js';
import type { Logger } from '../common/log.js';

/** An image as the container service sees it. */
interface ImageFound {
  id: string;
  config: { config?: ImageConfig };
  layerDirs: string[];
  repoTags: string[];
}

/** What the container service needs from the image store. */
export interface ImageLookup {
  /** The image `ref` (name, id or id prefix) names, or undefined. */
  resolve(ref: string): Promise<ImageFound | undefined>;
  /** Like resolve, but a builtin image (redis, python...) is made present on first reference. */
  ensureImage(ref: string): Promise<ImageFound | undefined>;
}

export interface ContainerPaths {
  dataRoot: string;
  execRoot: string;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Docker's restart backoff: the first delay, its ceiling, and the time up that resets it. */
const RESTART_FIRST_MS = 100;
const RESTART_MAX_MS = 60_000;
const RESTART_RESET_AFTER_MS = 10_000;

type Waiter = { condition: 'next-exit' | 'removed'; resolve: (code: number) => void };

/**
 * A client waiting to attach to a container: called with the opener of its
 * attach connection once the container's shim accepts them.
 */
export type PendingAttach = (open: OpenAttach) => void;

export type { DaemonDns };

export class ContainerService {
  private waiters = new Map<string, Waiter[]>();
  private locks = new Map<string, Promise<unknown>>();
  private pendingAttach = new Map<string, PendingAttach[]>();
  /**
   * Containers stopped on purpose: their next exit restarts nothing and a
   * restart they wait for is called off (Docker's ExitOnNext).
   */
  private stopping = new Set<string>();
  /** Containers being removed: from then on nothing starts them again. */
  private removing = new Set<string>();
  /** Restarts waiting for their delay (restart policies). */
  private restartTimers = new Map<string, NodeJS.Timeout>();
  /** Each container's last restart delay (the backoff doubles it). */
  private restartDelays = new Map<string, number>();
  /** While recovery runs, restarts wait for it (it reconciles the network); then they start. */
  private deferredRestarts: ContainerRecord[] | undefined;
  /** Set at daemon shutdown: no restart starts any more. */
  private closed = false;
  /** Endpoint settings, hosts/resolv.conf, network connect and disconnect. */
  readonly networking: ContainerNetworking;

  constructor(
    private readonly repo: ContainerRepo,
    private readonly images: ImageLookup,
    private readonly networks: NetworkController,
    private readonly runtime: Runtime,
    private readonly events: EventBus,
    private readonly paths: ContainerPaths,
    private readonly dns: DaemonDns,
    private readonly log: Logger,
  ) {
    this.networking = new ContainerNetworking({
      repo,
      networks,
      events,
      dns,
      log,
      dir: (id) => this.dir(id),
      locked: (id, fn) =>
        this.locked(id, () => {
          // Removed while this waited for the lock: its record must not be written again.
          if (!this.repo.find(id)) throw notFound(`No such container: ${id}`);
          return fn();
        }),
    });
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
    return join(this.paths.dataRoot, 'containers', id);
  }
  /** Overlay directories of the container's root filesystem. */
  private layerDir(id: string): string {
    return join(this.paths.dataRoot, 'overlay', id);
  }
  /** The overlay directories of the root filesystem over `lower` (the image's layers), as inspect shows them. */
  graphDriverData(id: string, lower: string[]): Record<string, string> {
    const ld = this.layerDir(id);
    return {
      ...(lower.length ? { LowerDir: lower.join(':') } : {}),
      MergedDir: join(ld, 'merged'),
      UpperDir: join(ld, 'diff'),
      WorkDir: join(ld, 'work'),
    };
  }
  /** The upper directory of the container's root filesystem: what the container changed. */
  upperDir(id: string): string {
    return join(this.layerDir(id), 'diff');
  }
  /** The shim's state directory (short: unix socket paths are limited to 108 bytes). */
  private stateDir(id: string): string {
    return join(this.paths.execRoot, 'containers', id.slice(0, 16));
  }
  logPath(id: string): string {
    return join(this.dir(id), `${id}-json.log`);
  }

  /** Serialises operations on one container. */
  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    try {
      return await next;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  /**
   * Like locked, but 404 when the container was removed while `fn` waited
   * for the lock (a removal holds it): nothing may write its record again.
   */
  private lockedLive<T>(c: ContainerRecord, fn: () => Promise<T>): Promise<T> {
    return this.locked(c.Id, () => {
      if (this.repo.find(c.Id) !== c) throw notFound(`No such container: ${c.Id}`);
      return fn();
    });
  }

  // ---- create ------------------------------------------------------------

  /** POST /containers/create. Returns the new ID and warnings. */
  async create(body: unknown, name?: string): Promise<{ Id: string; Warnings: string[] }> {
    const req = parseCreate(body);
    const runtime = basename(this.runtime.binary);
    const asked = req.hostConfig.Runtime;
    if (asked && asked !== runtime) throw invalid(`Unknown runtime specified ${String(asked)}`);
    req.hostConfig.Runtime = runtime;
    const id = randomBytes(32).toString('hex');
    const fullName = name ? checkName(name) : `/${generatedName(id)}`;
    const mode = req.hostConfig.NetworkMode;
    if (mode.startsWith('container:')) {
      this.repo.get(mode.slice('container:'.length));
    }
    const publishes =
      Object.keys(req.hostConfig.PortBindings ?? {}).length > 0 || req.hostConfig.PublishAllPorts;
    const warnings =
      mode === 'host' && publishes
        ? ['Published ports are discarded when using host network mode']
        : [];
    const img = await this.images.ensureImage(req.config.Image);
    if (!img) throw notFound(`No such image: ${normalizeRef(req.config.Image)}`);
    const merged = mergeWithImage(req.config, img.config.config ?? {});
    const config = merged.config;
    if (!config.Hostname) {
      config.Hostname = mode === 'host' ? osHostname() : id.slice(0, 12);
    }
    const now = new Date().toISOString();
    const c: ContainerRecord = {
      Id: id,
      Name: fullName,
      Created: now,
      Image: req.config.Image,
      ImageID: img.id,
      Path: merged.path,
      Args: merged.args,
      Config: config,
      HostConfig: req.hostConfig,
      State: {
        Status: 'created',
        Pid: 0,
        ExitCode: 0,
        Error: '',
        StartedAt: ZERO_TIME,
        FinishedAt: ZERO_TIME,
      },
      RestartCount: 0,
      Networks: {},
      EndpointsConfig: req.endpointsConfig,
    };
    const net = mode.startsWith('container:')
      ? undefined
      : this.networks.find(mode === 'default' ? 'bridge' : mode);
    // Docker accepts an unknown network here and fails at start (a 404 now would make the CLI pull).
    if (net) c.Networks[net.Name] = emptyEndpointSettings(net.Id);
    if (net && !PREDEFINED.includes(net.Name) && c.HostConfig.Links?.length) {
      // On a user-defined network a link is a name for this container's DNS
      // only, kept with the endpoint (HostConfig.Links null), as Docker's.
      for (const l of c.HostConfig.Links) parseLink(l);
      const key = c.EndpointsConfig[mode] ? mode : net.Name;
      const ec = (c.EndpointsConfig[key] ?? {}) as Record<string, unknown>;
      c.EndpointsConfig[key] = { ...ec, Links: ec.Links ?? c.HostConfig.Links };
      c.HostConfig.Links = null;
    } else {
      c.HostConfig.Links = normaliseLinks(this.repo, c);
    }
    // What was asked for the network shows before the start, as dockerd 20.10 shows it.
    if (net) c.Networks[net.Name] = configuredEndpoint(net, endpointConfigFor(c, net.Name));
    await this.repo.insert(c);
    try {
      await mkdir(this.dir(id), { recursive: true });
    } catch (e) {
      await this.repo.remove(c);
      throw e;
    }
    this.emit(c, 'create');
    return { Id: id, Warnings: warnings };
  }

  // ---- start -------------------------------------------------------------

  /** POST /containers/{id}/start. */
  async start(ref: string): Promise<void> {
    const c = this.repo.get(ref);
    await this.lockedLive(c, async () => {
      if (isLive(c)) throw new BerthError('NOT_MODIFIED', 'container already started');
      this.resetRestarts(c);
      try {
        await this.startLocked(c);
      } catch (e) {
        // As Docker: a --rm container that fails to start is removed (its waiters wake).
        if (c.HostConfig.AutoRemove && c.State.Status !== 'running') {
          await this.removeLocked(c, true).catch((err) =>
            this.log.error(`auto-remove: ${messageOf(err)}`),
          );
        }
        throw e;
      }
    });
  }

  private async startLocked(c: ContainerRecord): Promise<void> {
    if (c.State.Status === 'running')
      throw new BerthError('NOT_MODIFIED', 'container already started');
    if (c.State.Status === 'removing' || this.removing.has(c.Id))
      throw conflict(`container ${c.Id} is marked for removal and cannot be started`);
    checkStoredHostConfig(c.HostConfig);
    const img = await this.images.resolve(c.ImageID);
    if (!img) throw notFound(`No such image: ${c.Image}`);
    const undo: Array<() => Promise<void>> = [];
    const sw = new Stopwatch();
    try {
      // Network first: the sandbox exists before the process does.
      const mode = c.HostConfig.NetworkMode;
      let netnsPath: string | undefined;
      if (mode.startsWith('container:')) {
        const other = this.repo.get(mode.slice('container:'.length));
        if (other.State.Status !== 'running') {
          throw conflict(`cannot join network of a non running container: ${other.Id}`);
        }
        netnsPath = this.networks.endpoints.netnsPath(other.Id);
      } else {
        netnsPath = this.networks.endpoints.createSandbox(c.Id, mode);
        undo.push(() => this.networks.endpoints.teardown(c.Id));
        // The primary network first (it gives the default route), then those
        // the container was connected to while it was stopped.
        const primary = this.networks.forMode(mode);
        const names = [primary.Name, ...Object.keys(c.Networks).filter((n) => n !== primary.Name)];
        // The default route: libnetwork's endpoint order, not attach order.
        const gw = gatewayNetwork(names.flatMap((n) => this.networks.find(n) ?? []));
        const joined: ContainerRecord['Networks'] = {};
        for (const name of names) {
          const ec = endpointConfigFor(c, name);
          const r = await this.networks.endpoints.join(
            c.Id,
            netnsPath,
            name,
            joinOptions(c, ec, name === gw?.Name, name === primary.Name),
          );
          joined[r.name] = joinedSettings(r.endpoint, ec);
          c.Networks = { ...c.Networks, ...joined };
        }
        c.Networks = joined;
      }

      sw.lap('net');
      const ld = this.layerDir(c.Id);
      const rootfs = join(ld, 'merged');
      await mkdir(join(ld, 'diff'), { recursive: true });
      await mkdir(join(ld, 'work'), { recursive: true });
      await mkdir(rootfs, { recursive: true });
      await mountOverlay(img.layerDirs, join(ld, 'diff'), join(ld, 'work'), rootfs);
      undo.push(() => unmountAll(rootfs));

      sw.lap('mount');
      const bundle = await writeBundle(c, {
        dir: this.dir(c.Id),
        rootfs,
        netnsPath,
        hostNetwork: mode === 'host',
        dns: this.dns,
        links: this.networking.linksOf(c),
      });

      sw.lap('spec');
      const stateDir = this.stateDir(c.Id);
      await unmountAndRemove(stateDir);
      await mkdir(stateDir, { recursive: true });
      const attaches = this.pendingAttach.get(c.Id) ?? [];
      this.pendingAttach.delete(c.Id);
      let pid: number;
      try {
        const launching = this.runtime.startContainer(c.Id, bundle, stateDir, {
          log: this.logPath(c.Id),
          tty: c.Config.Tty,
          stdin: c.Config.OpenStdin,
          stdinOnce: c.Config.StdinOnce,
          waitAttach: attaches.length > 0,
        });
        if (attaches.length) await waitForPath(join(stateDir, 'attach.sock'));
        for (const a of attaches) a(attachOpener(stateDir));
        pid = await launching;
      } catch (e) {
        await this.runtime.delete(c.Id).catch(() => undefined);
        throw startError(e);
      }
      sw.lap('launch');
      const shimPid = Number((await readFile(join(stateDir, 'shim.pid'), 'utf8')).trim());
      c.State = {
        Status: 'running',
        Pid: pid,
        ExitCode: 0,
        Error: '',
        StartedAt: new Date().toISOString(),
        FinishedAt: c.State.FinishedAt,
        ShimPid: shimPid,
      };
      await this.repo.save(c);
      sw.lap('saved');
      this.log.debug(`start ${c.Id.slice(0, 12)}: ${sw}`);
      this.emit(c, 'start');
      this.watchExit(c);
      this.networking.refreshLinkParents(c);
    } catch (e) {
      for (const u of undo.reverse()) await u().catch(() => undefined);
      c.State.Error = messageOf(e);
      if (c.State.Status !== 'running') {
        for (const n of Object.values(c.Networks)) clearOperational(n);
      }
      // As Docker's: a restart that fails leaves the container stopped.
      const restarting = c.State.Status === 'restarting';
      if (restarting) c.State.Status = 'exited';
      await this.repo.save(c).catch(() => undefined);
      if (restarting) this.notify(c.Id, 'next-exit', c.State.ExitCode);
      throw e;
    }
  }

  // ---- exit --------------------------------------------------------------

  /** Follows the shim until the process exits, then records it. */
  private watchExit(c: ContainerRecord): void {
    const stateDir = this.stateDir(c.Id);
    void waitExit(stateDir).then((st) =>
      this.locked(c.Id, () => this.onExit(c, st)).catch((e) =>
        this.log.error(`exit handling of ${c.Id.slice(0, 12)} failed: ${messageOf(e)}`),
      ),
    );
  }

  /** Records an exit: state, cleanup of the sandbox and rootfs, events, waiters, --rm, restart. */
  private async onExit(c: ContainerRecord, st: ExitStatus | undefined): Promise<void> {
    if (c.State.Status !== 'running' || this.repo.find(c.Id) !== c) return;
    const code = st?.code ?? 255;
    if (!st) {
      // The monitor is gone without an exit record: the process must not outlive our record of it.
      await this.runtime.kill(c.Id, 'SIGKILL', true).catch(() => undefined);
    }
    await this.cleanupRuntime(c);
    const finished = st?.finishedAt ?? new Date();
    const manual = this.stopping.delete(c.Id);
    const delay =
      manual || this.removing.has(c.Id) || c.HostConfig.AutoRemove
        ? undefined
        : this.restartDelay(c, code, finished.getTime() - Date.parse(c.State.StartedAt));
    c.State = {
      ...c.State,
      Status: delay === undefined ? 'exited' : 'restarting',
      Pid: 0,
      ExitCode: code,
      Error: st ? '' : 'container process lost: its monitor ended without an exit status',
      FinishedAt: finished.toISOString(),
      ShimPid: undefined,
    };
    if (delay !== undefined) c.RestartCount++;
    await this.repo.save(c);
    this.emit(c, 'die', { exitCode: String(code) });
    this.notify(c.Id, 'next-exit', code);
    if (c.HostConfig.AutoRemove) {
      await this.removeLocked(c, true).catch((e) => this.log.error(`auto-remove: ${messageOf(e)}`));
      return;
    }
    if (delay !== undefined) this.scheduleRestart(c, delay);
  }

  /**
   * The restart policy after an exit with `code` after `ranMs` up: the delay
   * before the restart, or undefined for none. Docker's backoff: 100 ms,
   * doubled at each restart up to a minute, and 100 ms again after a run of
   * 10 s or more.
   */
  private restartDelay(c: ContainerRecord, code: number, ranMs: number): number | undefined {
    const p = c.HostConfig.RestartPolicy;
    const restart =
      p.Name === 'always' ||
      p.Name === 'unless-stopped' ||
      (p.Name === 'on-failure' &&
        code !== 0 &&
        (!p.MaximumRetryCount || c.RestartCount < p.MaximumRetryCount));
    if (!restart) return undefined;
    const last = ranMs >= RESTART_RESET_AFTER_MS ? 0 : (this.restartDelays.get(c.Id) ?? 0);
    const next = last === 0 ? RESTART_FIRST_MS : Math.min(last * 2, RESTART_MAX_MS);
    this.restartDelays.set(c.Id, next);
    return next;
  }

  /** Starts `c` (status restarting) again after `delay` ms, unless something calls it off. */
  private scheduleRestart(c: ContainerRecord, delay: number): void {
    if (this.deferredRestarts) {
      this.deferredRestarts.push(c);
      return;
    }
    this.clearRestartTimer(c.Id);
    const t = setTimeout(() => {
      if (this.restartTimers.get(c.Id) === t) this.restartTimers.delete(c.Id);
      void this.locked(c.Id, async () => {
        // Removed, stopped or started by hand meanwhile, or the daemon is stopping.
        if (this.closed || this.repo.find(c.Id) !== c || c.State.Status !== 'restarting') return;
        if (this.removing.has(c.Id)) return;
        await this.startLocked(c);
      }).catch((e) => this.log.error(`restart of ${c.Id.slice(0, 12)} failed: ${messageOf(e)}`));
    }, delay);
    this.restartTimers.set(c.Id, t);
  }

  private clearRestartTimer(id: string): void {
    const t = this.restartTimers.get(id);
    if (t) clearTimeout(t);
    this.restartTimers.delete(id);
  }

  /** A start by hand: the restart policy begins again (Docker resets its restart manager). */
  private resetRestarts(c: ContainerRecord): void {
    this.clearRestartTimer(c.Id);
    this.stopping.delete(c.Id);
    this.restartDelays.delete(c.Id);
    c.RestartCount = 0;
  }

  /**
   * Calls off a pending restart (the caller has marked `c` stopping or
   * removing): a container waiting to restart is stopped for good. True when
   * `c` does not run; false when it runs (a restart already under way won
   * the lock), and the caller stops it the usual way.
   */
  private async settleRestart(c: ContainerRecord): Promise<boolean> {
    this.clearRestartTimer(c.Id);
    return this.locked(c.Id, async () => {
      this.clearRestartTimer(c.Id);
      if (c.State.Status === 'running') return false;
      this.stopping.delete(c.Id);
      if (c.State.Status === 'restarting' && this.repo.find(c.Id) === c) {
        c.State = { ...c.State, Status: 'exited' };
        await this.repo.save(c);
        this.notify(c.Id, 'next-exit', c.State.ExitCode);
      }
      return true;
    });
  }

  /** Daemon shutdown: pending restarts are dropped (the next daemon schedules them again). */
  close(): void {
    this.closed = true;
    for (const id of [...this.restartTimers.keys()]) this.clearRestartTimer(id);
  }

  /** Undoes what start did, in reverse: runtime record, rootfs, sandbox. Best-effort. */
  private async cleanupRuntime(c: ContainerRecord): Promise<void> {
    await this.runtime.delete(c.Id).catch((e) => this.log.warn(`runc delete: ${messageOf(e)}`));
    await unmountAll(join(this.layerDir(c.Id), 'merged')).catch((e) => this.log.warn(messageOf(e)));
    if (!c.HostConfig.NetworkMode.startsWith('container:')) {
      await this.networks.endpoints
        .teardown(c.Id)
        .catch((e) => this.log.warn(`network teardown: ${messageOf(e)}`));
    }
    for (const n of Object.values(c.Networks)) clearOperational(n);
  }

  private notify(id: string, condition: Waiter['condition'], code: number): void {
    const ws = this.waiters.get(id) ?? [];
    const keep = ws.filter((w) => w.condition !== condition);
    for (const w of ws) if (w.condition === condition) w.resolve(code);
    if (keep.length) this.waiters.set(id, keep);
    else this.waiters.delete(id);
  }

  /** POST /containers/{id}/wait: resolves with the exit code. */
  wait(ref: string, condition = 'not-running'): Promise<number> {
    const c = this.repo.get(ref);
    if (!['not-running', 'next-exit', 'removed', ''].includes(condition)) {
      throw invalid(`invalid condition: "${condition}"`);
    }
    // A container waiting to restart still counts as running, as in Docker.
    if ((condition === 'not-running' || condition === '') && !isLive(c)) {
      return Promise.resolve(c.State.ExitCode);
    }
    const cond = condition === 'removed' ? 'removed' : 'next-exit';
    return new Promise((resolve) => {
      const ws = this.waiters.get(c.Id) ?? [];
      ws.push({ condition: cond, resolve });
      this.waiters.set(c.Id, ws);
    });
  }

  // ---- stop, kill, restart, remove --------------------------------------

  /** POST /containers/{id}/stop: signal, wait `t` seconds, then SIGKILL. */
  async stop(ref: string, timeout?: number, signal?: string): Promise<void> {
    const c = this.repo.get(ref);
    if (!isLive(c)) throw new BerthError('NOT_MODIFIED', 'container already stopped');
    this.stopping.add(c.Id);
    // Waiting to restart: it stays stopped (Docker's stop of a restarting container).
    if (await this.settleRestart(c)) return;
    await this.terminate(c, timeout ?? c.Config.StopTimeout ?? 10, signal ?? c.Config.StopSignal);
  }

  private async terminate(c: ContainerRecord, timeout: number, signal = 'SIGTERM'): Promise<void> {
    const exited = this.wait(c.Id, 'next-exit');
    // Exited between the caller's check and this waiter: nothing to stop.
    if (c.State.Status !== 'running') return;
    if (timeout !== 0) await this.runtime.kill(c.Id, signal);
    const done = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((r) =>
        setTimeout(() => r(false), timeout < 0 ? 2 ** 31 - 1 : timeout * 1000),
      ),
    ]);
    if (!done) {
      await this.runtime.kill(c.Id, 'SIGKILL');
      await exited;
    }
  }

  /** POST /containers/{id}/kill. */
  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const c = this.repo.get(ref);
    if (!isLive(c)) {
      throw conflict(`Cannot kill container: ${ref}: Container ${c.Id} is not running`);
    }
    const sig =
      /^\d+$/.test(signal) || signal.startsWith('SIG') ? signal : `SIG${signal.toUpperCase()}`;
    if (!/^(\d+|SIG[A-Z0-9+-]+)$/.test(sig)) throw invalid(`Invalid signal: ${signal}`);
    const hard = sig === 'SIGKILL' || sig === '9';
    // As Docker's: SIGKILL, or the container's stop signal (any signal when
    // it sets none), ends the restart policy's work until the next start.
    const stop = c.Config.StopSignal;
    if (hard || !stop || sameSignal(sig, stop)) {
      this.stopping.add(c.Id);
      if (await this.settleRestart(c)) return;
    } else if (c.State.Status !== 'running') {
      return; // waiting to restart: no process to signal
    }
    await this.runtime.kill(c.Id, sig);
    if (hard) await this.wait(c.Id, 'not-running');
  }

  /** POST /containers/{id}/restart. */
  async restart(ref: string, timeout?: number): Promise<void> {
    const c = this.repo.get(ref);
    if (isLive(c)) {
      this.stopping.add(c.Id);
      if (!(await this.settleRestart(c))) {
        await this.terminate(c, timeout ?? 10, c.Config.StopSignal);
      }
    }
    await this.lockedLive(c, async () => {
      this.resetRestarts(c);
      await this.startLocked(c);
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
    await this.lockedLive(c, async () => {
      const r = await this.networking.renamed(c, name);
      await this.repo.rename(c, r.next, r.ops);
      Object.assign(c, r.next);
      for (const p of r.parents) Object.assign(this.repo.get(p.Id), p);
      r.publish();
    });
    this.emit(c, 'rename', { oldName });
  }

  /** DELETE /containers/{id}. */
  async remove(ref: string, force: boolean): Promise<void> {
    const c = this.repo.get(ref);
    if (this.removing.has(c.Id)) {
      throw conflict(`removal of container ${c.Id} is already in progress`);
    }
    // From here on nothing starts it again: not a pending restart, not a start by hand.
    this.removing.add(c.Id);
    try {
      for (;;) {
        if (isLive(c)) {
          if (!force) {
            throw conflict(
              `You cannot remove a ${c.State.Status} container ${c.Id}. Stop the container before attempting removal or force remove`,
            );
          }
          this.stopping.add(c.Id);
          if (!(await this.settleRestart(c))) {
            const exited = this.wait(c.Id, 'next-exit');
            if (c.State.Status === 'running') {
              await this.runtime.kill(c.Id, 'SIGKILL');
              await exited;
            }
          }
        }
        // A start already under way when the removal began may have won the
        // lock: then it is killed again (no other start can begin).
        const done = await this.locked(c.Id, async () => {
          if (c.State.Status === 'running') return false;
          await this.removeLocked(c, force);
          return true;
        });
        if (done) return;
      }
    } finally {
      this.removing.delete(c.Id);
    }
  }

  private async removeLocked(c: ContainerRecord, _force: boolean): Promise<void> {
    if (this.repo.find(c.Id) !== c) return;
    if (c.State.Status === 'running') throw conflict(`container ${c.Id} is running`);
    this.clearRestartTimer(c.Id);
    await this.cleanupRuntime(c);
    // Independent trees: removed together (each refuses to cross a surviving mount).
    await Promise.all(
      [this.stateDir(c.Id), this.layerDir(c.Id), this.dir(c.Id)].map(unmountAndRemove),
    );
    await this.repo.remove(c);
    this.stopping.delete(c.Id);
    this.restartDelays.delete(c.Id);
    this.emit(c, 'destroy');
    this.notify(c.Id, 'removed', c.State.ExitCode);
    this.notify(c.Id, 'next-exit', c.State.ExitCode);
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
      onReady(attachOpener(this.stateDir(c.Id)));
      return;
    }
    const list = this.pendingAttach.get(c.Id) ?? [];
    list.push(onReady);
    this.pendingAttach.set(c.Id, list);
  }

  /**
   * POST /containers/{id}/resize: the pseudo-terminal of a running
   * container's process (a shim that cannot be reached is ignored).
   */
  async resize(ref: string, h: number, w: number): Promise<void> {
    const c = this.repo.get(ref);
    if (c.State.Status !== 'running') throw invalid(`Container ${c.Id} is not running`);
    await shimResize(this.stateDir(c.Id), h, w).catch(() => undefined);
  }

  /** Forgets a pending attach (its client went away before start). */
  dropPendingAttach(ref: string, onReady: PendingAttach): void {
    const c = this.repo.find(ref);
    if (!c) return;
    const list = (this.pendingAttach.get(c.Id) ?? []).filter((x) => x !== onReady);
    if (list.length) this.pendingAttach.set(c.Id, list);
    else this.pendingAttach.delete(c.Id);
  }

  // ---- recovery ----------------------------------------------------------

  /**
   * After a daemon (re)start: re-follow containers whose shim still runs,
   * record the exits that happened while the daemon was away, clean up
   * anything the runtime has that the store doesn't, and remove what a
   * removed container's late save left. Restarts (restart policies) wait
   * until all that is done.
   */
  async recover(): Promise<void> {
    this.deferredRestarts = [];
    try {
      await this.recoverLocked();
    } finally {
      const later = this.deferredRestarts;
      this.deferredRestarts = undefined;
      for (const c of later) this.scheduleRestart(c, RESTART_FIRST_MS);
    }
  }

  private async recoverLocked(): Promise<void> {
    await this.removeStrays();
    for (const c of this.repo.all()) {
      if (c.State.Status === 'restarting') {
        // The daemon went away while it waited to restart.
        this.scheduleRestart(c, RESTART_FIRST_MS);
        continue;
      }
      if (c.State.Status !== 'running') {
        if (c.State.Status === 'removing') await this.removeLocked(c, true).catch(() => undefined);
        continue;
      }
      const stateDir = this.stateDir(c.Id);
      if (c.State.ShimPid && pidAlive(c.State.ShimPid)) {
        this.watchExit(c);
        continue;
      }
      const st = await readExit(stateDir);
      await this.locked(c.Id, () => this.onExit(c, st));
    }
    // The store says what runs: a runtime container of no record, or of one
    // that is not running (a daemon killed after runc started it but before
    // it saved so), is killed and deleted.
    const known = new Set(this.repo.all().map((c) => c.Id));
    const running = new Set(
      this.repo
        .all()
        .filter((c) => c.State.Status === 'running')
        .map((c) => c.Id),
    );
    for (const id of await this.runtime.list()) {
      if (!running.has(id)) {
        this.log.warn(
          known.has(id)
            ? `stopping runtime container ${id}: its record says it does not run`
            : `removing unknown runtime container ${id}`,
        );
        await this.runtime.kill(id, 'SIGKILL', true).catch(() => undefined);
        await this.runtime.delete(id).catch(() => undefined);
      }
    }
    await this.sweepMounts();
    await this.networks.reconcile(running);
  }

  /**
   * Records the store kept without their name key (ContainerRepo.load) are
   * containers that a late save wrote back after their removal (a pending
   * restart did, before saves checked): the removal is finished now,
   * processes, mounts, endpoints and files included.
   */
  private async removeStrays(): Promise<void> {
    for (const c of this.repo.takeStrays()) {
      this.log.warn(
        `removing ${c.Id.slice(0, 12)} (${c.Name}): a removed container's record was back`,
      );
      await this.repo.removeStray(c);
      await this.runtime.kill(c.Id, 'SIGKILL', true).catch(() => undefined);
      await this.cleanupRuntime(c);
      await Promise.all(
        [this.stateDir(c.Id), this.layerDir(c.Id), this.dir(c.Id)].map(unmountAndRemove),
      ).catch((e) => this.log.warn(`removing ${c.Id.slice(0, 12)}: ${messageOf(e)}`));
    }
  }

  /**
   * Unmounts root filesystems and namespace files that belong to no running
   * container: what a daemon killed between mounting and starting left behind.
   */
  private async sweepMounts(): Promise<void> {
    const running = this.repo.all().filter((c) => c.State.Status === 'running');
    const keep = new Set<string>();
    for (const c of running) {
      keep.add(join(this.layerDir(c.Id), 'merged'));
      keep.add(this.networks.endpoints.netnsPath(c.Id));
    }
    const stale = [
      ...(await mountsUnder(join(this.paths.dataRoot, 'overlay'))),
      ...(await mountsUnder(join(this.paths.execRoot, 'netns'))),
    ].filter((m) => !keep.has(m));
    for (const m of stale) {
      this.log.warn(`unmounting stale ${m}`);
      await unmountAll(m).catch((e) => this.log.error(messageOf(e)));
    }
  }

  // ---- helpers -----------------------------------------------------------

  emit(c: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.events.publish('container', action, c.Id, {
      ...c.Config.Labels,
      image: c.Image,
      name: c.Name.slice(1),
      ...extra,
    });
  }
}

/** Running, or waiting to restart: what Docker's State.Running means. */
function isLive(c: ContainerRecord): boolean {
  return c.State.Status === 'running' || c.State.Status === 'restarting';
}

/** Whether two spellings (SIGTERM, TERM, 15) name one signal. */
function sameSignal(a: string, b: string): boolean {
  const num = (s: string): number | string => {
    if (/^\d+$/.test(s)) return Number(s);
    const name = s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`;
    return (osConstants.signals as Record<string, number | undefined>)[name] ?? name;
  };
  return num(a) === num(b);
}

/** What an endpoint only has while it exists (Docker's cleanOperationalData). */
function clearOperational(n: ContainerRecord['Networks'][string]): void {
  Object.assign(n, {
    EndpointID: '',
    IPAddress: '',
    IPPrefixLen: 0,
    Gateway: '',
    MacAddress: '',
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
  });
}

/** Maps a runtime failure to Docker's wording and status. */
function startError(e: unknown): Error {
  if (e instanceof RuntimeError) {
    return new BerthError('INVALID_ARGUMENT', `OCI runtime create failed: ${e.message}: unknown`);
  }
  return e as Error;
}
