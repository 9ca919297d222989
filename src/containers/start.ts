/**
 * Starting a container (its lock held): the sandbox, the overlay root and
 * the bundle (config.json, the /etc files it mounts), then `runc create`
 * under the shim while the networks are joined (networking.ts), then the
 * hosts and resolv.conf texts and the process let run (decision 0041).
 * Clients waiting to attach are handed the shim's attach socket before the
 * process runs. Each step registers its undo; a failure undoes them in
 * reverse and leaves the container stopped (a failed restart too).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, conflict, invalid, messageOf, notFound } from '../common/errors.js';
import { Stopwatch } from '../common/stopwatch.js';
import { waitForPath } from '../common/wait.js';
import { mountOverlay, mountShm, unmountAll, unmountAndRemove } from '../kernel/mount/mounts.js';
import { RuntimeError } from '../kernel/runtime/runtime.js';
import { attachOpener } from './attach.js';
import { writeBundle, writeEtcFiles } from './bundle.js';
import { checkStoredHostConfig } from './config.js';
import type { Lifecycle } from './lifecycle.js';
import { clearOperational } from './endpoint-settings.js';
import { keepsLogs, type RuntimeFlags } from './runtime-flags.js';
import { runtimeFlagsAtStart } from './start-flags.js';
import { prepareMounts, releaseMounts } from './mounts.js';
import type { ContainerRecord } from './types.js';

export async function startLocked(life: Lifecycle, c: ContainerRecord): Promise<void> {
  if (c.State.Status === 'running')
    throw new BerthError('NOT_MODIFIED', 'container already started');
  if (c.State.Status === 'removing' || life.removing.has(c.Id))
    throw conflict(`container ${c.Id} is marked for removal and cannot be started`);
  checkStoredHostConfig(c.HostConfig);
  // Devices, donor containers, the init: resolved before anything is made.
  const flags = runtimeFlagsAtStart(life.repo, c, (id) => life.paths.shmDir(id));
  checkLegacyMounts(c);
  const img = await life.images.resolve(c.ImageID);
  if (!img) throw notFound(`No such image: ${c.Image}`);
  const undo: Array<() => Promise<void>> = [];
  const stateDir = life.paths.stateDir(c.Id);
  const sw = new Stopwatch();
  try {
    // The sandbox exists before the process does. Once the root, mounts
    // and bundle are ready, runc creates the container (its own process,
    // ~50 ms) while the networks are joined here; the process runs only
    // once both are done (decision 0041). The other hosts of an overlay
    // program this container meanwhile; the start answers only once they
    // have (decision 0023).
    const othersConverged: Promise<void>[] = [];
    const netnsPath = life.networking.sandboxAtStart(c, undo);
    const joinNetworks = () =>
      timed(life.networking.joinAtStart(c, netnsPath, (w) => othersConverged.push(w)));
    // runc writes the container's sysctls while it creates it: a net.* one
    // of the user's may name an interface a join makes, so those join first.
    const joinsFirst = Object.keys(c.HostConfig.Sysctls ?? {}).some((k) => k.startsWith('net.'));
    const joinedFirst = joinsFirst ? await joinNetworks() : undefined;
    const bundle = await prepareContainer(life, c, img.layerDirs, flags, netnsPath, stateDir, undo);
    sw.lap('bundle');
    const created = createContainer(life, c, bundle, stateDir, undo);
    const joined = joinedFirst ?? joinNetworks();
    const [j, made] = await Promise.allSettled([joined, created]);
    if (j.status === 'rejected') throw j.reason;
    if (made.status === 'rejected') throw made.reason;
    const netMs = j.value;
    sw.lap('create');
    writeEtcFiles(c, {
      dir: life.paths.dir(c.Id),
      hostNetwork: c.HostConfig.NetworkMode === 'host',
      dns: life.dns,
      resolverOf: life.networking.resolverOf,
      links: life.networking.linksOf(c),
      hostGateway: life.networking.hostGateway(),
    });
    sw.lap('files');
    const pid = made.value;
    await life.runtime.start(c.Id, pid).catch((e) => {
      throw runtimeError('start', e);
    });
    sw.lap('start');
    if (othersConverged.length) {
      await Promise.all(othersConverged);
      sw.lap('peers');
    }
    const shimPid = Number(readFileSync(join(stateDir, 'shim.pid'), 'utf8').trim());
    // Copy-up happens once, at the first start (dockerd: at create).
    for (const m of c.MountPoints ?? []) delete m.CopyData;
    c.State = {
      Status: 'running',
      Pid: pid,
      ExitCode: 0,
      Error: '',
      StartedAt: new Date().toISOString(),
      FinishedAt: c.State.FinishedAt,
      ShimPid: shimPid,
      Health: c.State.Health,
    };
    c.ManuallyStopped = false;
    life.health.start(c);
    await life.repo.save(c);
    sw.lap('saved');
    life.log.debug(`start ${c.Id.slice(0, 12)}: ${sw} (net ${netMs.toFixed(2)} ms beside create)`);
    life.emit(c, 'start');
    life.watchExit(c);
    life.networking.refreshLinkParents(c);
  } catch (e) {
    for (const u of undo.reverse()) await u().catch(() => undefined);
    c.State.Error = messageOf(e);
    if (c.State.Status !== 'running') {
      for (const n of Object.values(c.Networks)) clearOperational(n);
    }
    // As Docker's: a restart that fails leaves the container stopped.
    const restarting = c.State.Status === 'restarting';
    if (restarting) c.State.Status = 'exited';
    await life.repo.save(c).catch(() => undefined);
    if (restarting) life.waiters.notify(c.Id, 'next-exit', c.State.ExitCode);
    throw e;
  }
}

/**
 * What the container needs before runc can create it: its root filesystem
 * and mounts, the state directory, and the bundle. Each step registers its
 * undo. Returns the bundle directory.
 */
async function prepareContainer(
  life: Lifecycle,
  c: ContainerRecord,
  layerDirs: string[],
  flags: RuntimeFlags,
  netnsPath: string | undefined,
  stateDir: string,
  undo: Array<() => Promise<void>>,
): Promise<string> {
  const layers = life.paths.layerDir(c.Id);
  const rootfs = join(layers, 'merged');
  // Synchronously, as the bundle's files: small steps on every start's path.
  for (const d of ['diff', 'work', 'merged']) mkdirSync(join(layers, d), { recursive: true });
  await mountOverlay(layerDirs, join(layers, 'diff'), join(layers, 'work'), rootfs);
  undo.push(() => unmountAll(rootfs));

  if (flags.ipc.kind === 'shareable') {
    mkdirSync(flags.ipc.shm, { recursive: true });
    await mountShm(flags.ipc.shm, c.HostConfig.ShmSize);
    undo.push(() => unmountAll(life.paths.shmDir(c.Id)));
  }
  undo.push(() => releaseMounts(life.volumes, c));
  const user = await prepareMounts(life.volumes, c, rootfs);
  const bundle = await writeBundle(c, {
    dir: life.paths.dir(c.Id),
    rootfs,
    netnsPath,
    hostNetwork: c.HostConfig.NetworkMode === 'host',
    dns: life.dns,
    resolverOf: life.networking.resolverOf,
    links: life.networking.linksOf(c),
    flags,
    hostGateway: life.networking.hostGateway(),
    mounts: user.mounts,
    rootfsPropagation: user.rootfsPropagation,
  });
  await unmountAndRemove(stateDir);
  mkdirSync(stateDir, { recursive: true });
  return bundle;
}

/**
 * `runc create` of the bundle under the shim, launched at once (before
 * this function's first wait): its process then waits for Runtime.start.
 * Clients waiting to attach get the shim's socket first. Resolves to the
 * process's PID.
 */
async function createContainer(
  life: Lifecycle,
  c: ContainerRecord,
  bundle: string,
  stateDir: string,
  undo: Array<() => Promise<void>>,
): Promise<number> {
  const attaches = life.pendingAttach.get(c.Id) ?? [];
  life.pendingAttach.delete(c.Id);
  // A shim or runtime state a failed create leaves goes too.
  undo.push(() => life.runtime.delete(c.Id));
  try {
    const creating = life.runtime.createContainer(c.Id, bundle, stateDir, {
      log: keepsLogs(c.HostConfig) ? life.paths.logPath(c.Id) : undefined,
      tty: c.Config.Tty,
      stdin: c.Config.OpenStdin,
      stdinOnce: c.Config.StdinOnce,
      waitAttach: attaches.length > 0,
    });
    if (attaches.length) await waitForPath(join(stateDir, 'attach.sock'));
    for (const a of attaches) a(attachOpener(stateDir));
    return await creating;
  } catch (e) {
    throw runtimeError('create', e);
  }
}

/** How long a promise took to settle, in ms (its rejection passed on). */
async function timed(p: Promise<void>): Promise<number> {
  const t0 = performance.now();
  await p;
  return performance.now() - t0;
}

/**
 * A record an older Berth stored before mounts were honoured has no mount
 * points: when its HostConfig asks for mounts, starting it would ignore them.
 */
function checkLegacyMounts(c: ContainerRecord): void {
  if (c.MountPoints) return;
  const hc = c.HostConfig;
  const set = (v: unknown) => (Array.isArray(v) ? v.length > 0 : !!v && Object.keys(v).length > 0);
  if (set(hc.Binds) || set(hc.Mounts) || set(hc.VolumesFrom) || set(hc.Tmpfs)) {
    throw invalid(
      `container ${c.Id} was created by a berth that did not honour its mounts: remove it and create it again`,
    );
  }
}

/**
 * Maps a runtime failure to Docker's wording and status (Docker 20.10 with
 * containerd 1.6: "failed to create shim task: OCI runtime create failed:
 * runc create failed: …", docs/reference/docker-20.10-limits-transcript.md).
 */
function runtimeError(step: 'create' | 'start', e: unknown): Error {
  if (e instanceof RuntimeError) {
    const task = step === 'create' ? 'failed to create shim task: ' : '';
    return new BerthError(
      'INVALID_ARGUMENT',
      `${task}OCI runtime ${step} failed: ${e.message}: unknown`,
    );
  }
  return e as Error;
}
