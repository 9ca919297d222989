/**
 * A container's mounts through its life, as dockerd 20.10's
 * registerMountPoints and setupMounts: at create the mount points (from
 * `--volumes-from`, then `-v`, then `--mount`, then the image's and the
 * request's anonymous volumes), volumes made or referenced; at start the
 * host side readied (a `-v` bind's missing directory made, volumes with
 * options mounted, copy-up) and the OCI mounts built; at exit volumes with
 * options unmounted when unused; at removal (`rm -v`, `--rm`) the anonymous
 * volumes removed. Nothing here deletes or descends into a bind source.
 */
import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { hasCode, invalid, messageOf } from '../common/errors.js';
import type { Json } from '../common/validate.js';
import { resolveInScope } from '../kernel/scope.js';
import { propagationAt } from '../kernel/mount/mounts.js';
import {
  checkTmpfsDestination,
  parseBind,
  parseVolumesFrom,
  readWrite,
  tmpfsOptions,
  toMountPoint,
  validateMount,
  type MountPoint,
  type MountRequest,
  type ParsedMount,
} from '../volumes/parse.js';
import { checkDriver, type VolumeService } from '../volumes/service.js';
import type { ContainerRepo } from './repo.js';
import type { ContainerConfig, ContainerRecord, HostConfig } from './types.js';

/** One mount of the OCI spec. */
export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const bool = (o: Json, k: string, where: string): boolean => {
  const v = o[k];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw invalid(`invalid ${where}.${k}: expected a boolean`);
  return v;
};
const str = (o: Json, k: string, where: string): string => {
  const v = o[k];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw invalid(`invalid ${where}.${k}: expected a string`);
  return v;
};
const int = (o: Json, k: string, where: string): number => {
  const v = o[k];
  if (v === undefined || v === null) return 0;
  if (!Number.isSafeInteger(v)) throw invalid(`invalid ${where}.${k}: expected an integer`);
  return v as number;
};
const strMap = (o: Json, k: string, where: string): Record<string, string> | undefined => {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!isObj(v) || Object.values(v).some((x) => typeof x !== 'string')) {
    throw invalid(`invalid ${where}.${k}: expected an object of strings`);
  }
  return v as Record<string, string>;
};
const opt = (o: Json, k: string, where: string): Json | undefined => {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw invalid(`invalid ${where}.${k}: expected an object`);
  return v;
};
const refuse = (what: string, where: string) =>
  invalid(`berth does not support ${what} (${where}) yet: create the container without it`);

/**
 * One HostConfig.Mounts entry read into a MountRequest: JSON types checked,
 * and the fields of later APIs Berth does not honour refused when set
 * (VolumeOptions.Subpath, TmpfsOptions.Options, the read-only recursion
 * switches, ClusterOptions). Consistency is a macOS setting dockerd on
 * Linux ignores, as Berth does.
 */
export function readMount(v: unknown, where: string): MountRequest {
  if (!isObj(v)) throw invalid(`invalid ${where}: expected an object`);
  const bo = opt(v, 'BindOptions', where);
  const vo = opt(v, 'VolumeOptions', where);
  const to = opt(v, 'TmpfsOptions', where);
  if (opt(v, 'ClusterOptions', where)) {
    throw refuse('cluster volumes', `${where}.ClusterOptions`);
  }
  if (bo && bool(bo, 'ReadOnlyNonRecursive', `${where}.BindOptions`)) {
    throw refuse('bind-recursive=writable', `${where}.BindOptions.ReadOnlyNonRecursive`);
  }
  if (bo && bool(bo, 'ReadOnlyForceRecursive', `${where}.BindOptions`)) {
    throw refuse('bind-recursive=readonly', `${where}.BindOptions.ReadOnlyForceRecursive`);
  }
  if (vo && str(vo, 'Subpath', `${where}.VolumeOptions`)) {
    throw refuse('volume-subpath', `${where}.VolumeOptions.Subpath`);
  }
  if (to && Array.isArray(to.Options) && to.Options.length) {
    throw refuse('tmpfs options', `${where}.TmpfsOptions.Options`);
  }
  const dc = vo ? opt(vo, 'DriverConfig', `${where}.VolumeOptions`) : undefined;
  str(v, 'Consistency', where);
  return {
    Type: str(v, 'Type', where),
    Source: str(v, 'Source', where),
    Target: str(v, 'Target', where),
    ReadOnly: bool(v, 'ReadOnly', where),
    Propagation: bo ? str(bo, 'Propagation', `${where}.BindOptions`) || undefined : undefined,
    NonRecursive: bo ? bool(bo, 'NonRecursive', `${where}.BindOptions`) : false,
    CreateMountpoint: bo ? bool(bo, 'CreateMountpoint', `${where}.BindOptions`) : false,
    NoCopy: vo ? bool(vo, 'NoCopy', `${where}.VolumeOptions`) : false,
    Driver: dc ? str(dc, 'Name', `${where}.VolumeOptions.DriverConfig`) : '',
    DriverOpts: dc ? strMap(dc, 'Options', `${where}.VolumeOptions.DriverConfig`) : undefined,
    Labels: vo ? strMap(vo, 'Labels', `${where}.VolumeOptions`) : undefined,
    TmpfsSize: to ? int(to, 'SizeBytes', `${where}.TmpfsOptions`) : 0,
    TmpfsMode: to ? int(to, 'Mode', `${where}.TmpfsOptions`) : 0,
    has: { bind: bo !== undefined, volume: vo !== undefined, tmpfs: to !== undefined },
  };
}

/**
 * The checks of a create body that need no other container or volume:
 * HostConfig.Mounts (bind sources must exist, as dockerd's
 * validateHostConfig), Binds, Tmpfs, VolumesFrom syntax, Config.Volumes and
 * VolumeDriver. Throws dockerd's 400. Returns the parsed Mounts and Binds.
 */
export function checkMounts(
  config: Pick<ContainerConfig, 'Volumes'>,
  hc: HostConfig,
  exists: (p: string) => boolean = existsSync,
): { binds: ParsedMount[]; mounts: ParsedMount[] } {
  const driver = typeof hc.VolumeDriver === 'string' ? hc.VolumeDriver : '';
  checkDriver(driver);
  const mounts = ((hc.Mounts as unknown[] | null | undefined) ?? []).map((m, i) => {
    const req = readMount(m, `HostConfig.Mounts[${i}]`);
    validateMount(req, exists);
    if (req.Type === 'volume') checkDriver(req.Driver);
    return toMountPoint(req);
  });
  const binds = ((hc.Binds as string[] | null | undefined) ?? []).map((b) => parseBind(b, driver));
  const tmpfs = (hc.Tmpfs as Record<string, string> | null | undefined) ?? {};
  for (const [dest, data] of Object.entries(tmpfs)) {
    checkTmpfsDestination(dest);
    tmpfsOptions(data);
  }
  for (const m of mounts) if (m.point.TmpfsData) tmpfsOptions(m.point.TmpfsData);
  for (const v of (hc.VolumesFrom as string[] | null | undefined) ?? []) parseVolumesFrom(v);
  for (const dest of Object.keys(config.Volumes ?? {})) {
    try {
      validateMount({ ...toRequest(dest), Type: 'volume' });
    } catch (e) {
      throw invalid(messageOf(e).replace(/^invalid mount config for type "volume": /, ''));
    }
  }
  return { binds, mounts };
}

const toRequest = (target: string): MountRequest => ({
  Type: 'volume',
  Source: '',
  Target: target,
  ReadOnly: false,
  NonRecursive: false,
  CreateMountpoint: false,
  NoCopy: false,
  Driver: '',
  TmpfsSize: 0,
  TmpfsMode: 0,
  has: { bind: false, volume: false, tmpfs: false },
});

const dup = (dest: string) => invalid(`Duplicate mount point: ${dest}`);

/**
 * The mount points of a container being created (dockerd's
 * registerMountPoints, then its anonymous volumes): volumes are made or
 * referenced for `id` (the caller settles the references once the record is
 * stored or the create failed). On failure the anonymous volumes made here
 * are removed again.
 */
export async function registerMountPoints(
  deps: { repo: ContainerRepo; volumes: VolumeService },
  id: string,
  config: Pick<ContainerConfig, 'Volumes'>,
  hc: HostConfig,
): Promise<MountPoint[]> {
  const { binds, mounts } = checkMounts(config, hc);
  const points = new Map<string, MountPoint>();
  const bound = new Set<string>();
  const tmpfs = (hc.Tmpfs as Record<string, string> | null | undefined) ?? {};
  const made: string[] = [];
  const volume = async (p: ParsedMount): Promise<void> => {
    const existed = p.point.Name ? deps.volumes.find(p.point.Name) : undefined;
    const v = await deps.volumes.reference(
      { name: p.point.Name, driver: p.driver, opts: p.driverOpts, labels: p.labels },
      id,
    );
    if (!existed && v.Anonymous) made.push(v.Name);
    p.point.Name = v.Name;
    p.point.Source = deps.volumes.dataPath(v.Name);
    p.point.Driver = v.Driver;
  };
  try {
    for (const spec of (hc.VolumesFrom as string[] | null | undefined) ?? []) {
      const { id: from, mode } = parseVolumesFrom(spec);
      const other = deps.repo.find(from);
      if (!other) throw invalid(`No such container: ${from}`);
      for (const m of other.MountPoints ?? []) {
        const cp: MountPoint = { ...m, RW: m.RW && readWrite(mode), CopyData: false };
        // dockerd's copy does not keep SkipMountpointCreation: a bind's directory is made.
        if (cp.Type === 'bind') cp.CreateSource = true;
        if (cp.Type === 'volume' && cp.Name) await deps.volumes.reference({ name: cp.Name }, id);
        points.set(cp.Destination, cp);
      }
    }
    for (const b of binds) {
      const dest = b.point.Destination;
      if (bound.has(dest) || dest in tmpfs) throw dup(dest);
      if (b.point.Type === 'volume') {
        await volume(b);
        if (!b.point.Mode) b.point.Mode = 'z';
      }
      bound.add(dest);
      points.set(dest, b.point);
    }
    for (const m of mounts) {
      const dest = m.point.Destination;
      if (bound.has(dest)) throw dup(dest);
      if (m.point.Type === 'volume') {
        await volume(m);
        if (!m.point.Mode) m.point.Mode = 'z';
      }
      bound.add(dest);
      points.set(dest, m.point);
    }
    for (const spec of Object.keys(config.Volumes ?? {})) {
      const dest = posix.normalize(spec).replace(/(.)\/$/, '$1');
      if (points.has(dest) || dest in tmpfs) continue;
      const p = toMountPoint(toRequest(dest));
      p.point.Name = '';
      await volume(p);
      points.set(dest, p.point);
    }
  } catch (e) {
    deps.volumes.settle(id);
    for (const name of made) await deps.volumes.remove(name).catch(() => undefined);
    throw e;
  }
  return [...points.values()].sort((a, b) => (a.Destination < b.Destination ? -1 : 1));
}

/**
 * Readies the host side of a starting container's mounts (in `rootfs`, its
 * mounted root): a `-v` bind's missing directory made (as dockerd, 0755), a
 * `--mount` bind's source checked, volumes with options mounted, image
 * content copied into empty volumes (copy-up, once), the propagation a bind
 * asks for checked against its source's mount. Returns the OCI mounts and the
 * root's propagation, or throws dockerd's message.
 */
export async function prepareMounts(
  volumes: VolumeService,
  c: ContainerRecord,
  rootfs: string,
): Promise<{ mounts: OciMount[]; rootfsPropagation?: string }> {
  const points = c.MountPoints ?? [];
  for (const m of points) {
    if (m.Type === 'bind') {
      if (m.CreateSource) {
        // A file there is bound as it is (dockerd ignores ENOTDIR).
        await mkdir(m.Source, { recursive: true, mode: 0o755 }).catch(async (e: unknown) => {
          if (await stat(m.Source).catch(() => undefined)) return;
          throw invalid(`error while creating mount source path '${m.Source}': ${messageOf(e)}`);
        });
      } else if (!(await stat(m.Source).catch(() => undefined))) {
        throw invalid(
          `invalid mount config for type "bind": bind source path does not exist: ${m.Source}`,
        );
      }
      await checkPropagation(m);
    } else if (m.Type === 'volume' && m.Name) {
      await volumes.mountFor(m.Name);
      if (m.CopyData) {
        await volumes.copyUp(m.Name, resolveInScope(rootfs, m.Destination));
      }
    }
  }
  return ociMounts(points, (c.HostConfig.Tmpfs as Record<string, string> | null) ?? {});
}

/** dockerd's ensureShared / ensureSharedOrSlave for a bind asking for that propagation. */
async function checkPropagation(m: MountPoint): Promise<void> {
  const p = m.Propagation.replace(/^r/, '');
  if (p !== 'shared' && p !== 'slave') return;
  const at = await propagationAt(m.Source);
  if (p === 'shared' && at.kind !== 'shared') {
    throw invalid(`path ${m.Source} is mounted on ${at.mountPoint} but it is not a shared mount.`);
  }
  if (p === 'slave' && at.kind === 'private') {
    throw invalid(
      `path ${m.Source} is mounted on ${at.mountPoint} but it is not a shared or slave mount.`,
    );
  }
}

/**
 * The OCI mounts of a container's mount points and `--tmpfs` entries, as
 * dockerd's WithMounts: binds and volumes "rbind" (or "bind"), "ro" when
 * read-only, their propagation; tmpfs with noexec,nosuid,nodev,rprivate
 * under the user's options (buildSpec puts parents first). A shared (slave)
 * propagation makes the root rshared (rslave). Pure.
 */
export function ociMounts(
  points: MountPoint[],
  tmpfs: Record<string, string>,
): { mounts: OciMount[]; rootfsPropagation?: string } {
  const out: OciMount[] = Object.entries(tmpfs).map(([dest, data]) => ({
    destination: posix.normalize(dest),
    type: 'tmpfs',
    source: 'tmpfs',
    options: tmpfsOptions(data),
  }));
  let root: string | undefined;
  for (const m of points) {
    if (m.Type === 'tmpfs') {
      out.push({
        destination: m.Destination,
        type: 'tmpfs',
        source: 'tmpfs',
        options: tmpfsOptions(m.TmpfsData ?? ''),
      });
      continue;
    }
    const options = [m.NonRecursive ? 'bind' : 'rbind'];
    if (!m.RW) options.push('ro');
    if (m.Propagation) options.push(m.Propagation);
    const p = m.Propagation.replace(/^r/, '');
    if (p === 'shared') root = 'rshared';
    else if (p === 'slave' && root !== 'rshared') root = 'rslave';
    out.push({ destination: m.Destination, type: 'bind', source: m.Source, options });
  }
  return { mounts: out, ...(root ? { rootfsPropagation: root } : {}) };
}

/** After a container stopped: volumes with options no running container uses are unmounted. */
export async function releaseMounts(volumes: VolumeService, c: ContainerRecord): Promise<void> {
  for (const m of c.MountPoints ?? []) {
    if (m.Type === 'volume' && m.Name) await volumes.releaseMount(m.Name, c.Id);
  }
}

/**
 * After a container's record is gone: with `rm -v` (and `--rm`) its
 * anonymous volumes are removed, unless another container still uses one
 * (dockerd ignores that refusal). Named volumes and binds stay.
 */
export async function removeAnonymous(
  volumes: VolumeService,
  c: ContainerRecord,
  log: (msg: string) => void,
): Promise<void> {
  for (const m of c.MountPoints ?? []) {
    if (m.Type !== 'volume' || !m.Anonymous || !m.Name) continue;
    await volumes.remove(m.Name).catch((e) => {
      if (!hasCode(e, 'CONFLICT') && !hasCode(e, 'NOT_FOUND')) log(messageOf(e));
    });
  }
}

/** The containers whose mount points name the volume (the daemon's VolumeService.users). */
export function volumeUsers(
  all: ContainerRecord[],
  name: string,
): Array<{ id: string; running: boolean }> {
  return all
    .filter((c) => (c.MountPoints ?? []).some((m) => m.Type === 'volume' && m.Name === name))
    .map((c) => ({ id: c.Id, running: c.State.Status === 'running' }));
}
