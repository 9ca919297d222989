/**
 * Mount and volume specs as dockerd 20.10 reads them (moby's
 * volume/mounts/linux_parser.go), in its words: `-v` strings
 * (HostConfig.Binds), `--mount` objects (HostConfig.Mounts), `--volumes-from`
 * entries, `--tmpfs` options, local volume names and driver options. Pure:
 * what touches the filesystem (does a bind source exist?) is passed in.
 */
import { posix } from 'node:path';
import { invalid } from '../common/errors.js';

export type MountType = 'bind' | 'volume' | 'tmpfs';

/** A container's mount point as its record keeps it (moby's MountPoint). */
export interface MountPoint {
  Type: MountType;
  /** The volume's name (volumes only). */
  Name?: string;
  /** The host path: a bind's source, a volume's `_data`; "" for tmpfs. */
  Source: string;
  /** Where it appears in the container (cleaned). */
  Destination: string;
  /** The volume driver (volumes only): "local". */
  Driver?: string;
  /** The mode string the user gave (`-v`), "z" for a named local volume, else "". */
  Mode: string;
  RW: boolean;
  /** Binds: "rprivate" unless asked; "" for volumes and tmpfs. */
  Propagation: string;
  /** Copy the image's content at the destination into the volume while it is empty. */
  CopyData?: boolean;
  /** A volume the request did not name (image VOLUME, `-v /ctr`): `rm -v` removes it. */
  Anonymous?: boolean;
  /** A bind that is not recursive (`bind-nonrecursive`): "bind" instead of "rbind". */
  NonRecursive?: boolean;
  /** A `-v` bind: its host directory is made at start when missing, as dockerd. */
  CreateSource?: boolean;
  /** tmpfs from `--mount`: the mount data ("size=1m,mode=755"). */
  TmpfsData?: string;
}

export const PROPAGATIONS = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];
const LABEL_MODES = ['z', 'Z'];
const CONSISTENCY = ['consistent', 'cached', 'delegated', 'default'];
const COPY_MODES = ['nocopy'];

export const errInvalidSpec = (raw: string) => invalid(`invalid volume specification: '${raw}'`);
export const errInvalidMode = (mode: string) => invalid(`invalid mode: ${mode}`);

/** dockerd's linuxValidMountMode: comma-separated, at most one of each kind. */
export function validMode(mode: string): boolean {
  if (mode === '') return true;
  const count = { rw: 0, label: 0, prop: 0, copy: 0, consistency: 0 };
  for (const o of mode.split(',')) {
    if (o === 'rw' || o === 'ro') count.rw++;
    else if (LABEL_MODES.includes(o)) count.label++;
    else if (PROPAGATIONS.includes(o)) count.prop++;
    else if (COPY_MODES.includes(o)) count.copy++;
    else if (CONSISTENCY.includes(o)) count.consistency++;
    else return false;
  }
  return Object.values(count).every((n) => n <= 1);
}

/** False when the mode says `ro` (or is invalid), as dockerd's ReadWrite. */
export function readWrite(mode: string): boolean {
  return validMode(mode) && !mode.split(',').includes('ro');
}

const propagationOf = (mode: string): string | undefined =>
  mode.split(',').find((o) => PROPAGATIONS.includes(o));

/** Backslashes as slashes, then dockerd's checks of a target. */
function checkTarget(target: string): string | undefined {
  const p = target.replace(/\\/g, '/');
  if (posix.normalize(p).replace(/(.)\/$/, '$1') === '/') {
    return "invalid specification: destination can't be '/'";
  }
  if (!posix.isAbsolute(p)) return `invalid mount path: '${p}' mount path must be absolute`;
  return undefined;
}

/** The Mount object of HostConfig.Mounts (API 1.47), with the fields Berth reads. */
export interface MountRequest {
  Type: string;
  Source: string;
  Target: string;
  ReadOnly: boolean;
  Propagation?: string;
  NonRecursive: boolean;
  CreateMountpoint: boolean;
  NoCopy: boolean;
  /** The volume's driver, when given ("" = local or the volume's). */
  Driver: string;
  DriverOpts?: Record<string, string>;
  Labels?: Record<string, string>;
  TmpfsSize: number;
  TmpfsMode: number;
  /** Which option objects were set (dockerd refuses ones that do not fit the type). */
  has: { bind: boolean; volume: boolean; tmpfs: boolean };
}

const errMountConfig = (type: string, why: string) =>
  invalid(`invalid mount config for type "${type}": ${why}`);

/**
 * dockerd's validateMountConfigImpl: the target, the option objects that fit
 * the type, a bind's absolute source (that exists, unless `exists` is not
 * given), a tmpfs's lack of one. Throws dockerd's 400.
 */
export function validateMount(m: MountRequest, exists?: (path: string) => boolean): void {
  const fail = (why: string) => errMountConfig(m.Type, why);
  if (!m.Target) throw fail('field Target must not be empty');
  const bad = checkTarget(m.Target);
  if (bad) throw fail(bad);
  switch (m.Type) {
    case 'bind':
      if (!m.Source) throw fail('field Source must not be empty');
      if (m.Propagation && !PROPAGATIONS.includes(m.Propagation)) {
        throw fail(`invalid propagation mode: ${m.Propagation}`);
      }
      if (m.has.volume) throw fail('field VolumeOptions must not be specified');
      if (!posix.isAbsolute(m.Source.replace(/\\/g, '/'))) {
        throw fail(`invalid mount path: '${m.Source}' mount path must be absolute`);
      }
      if (exists && !m.CreateMountpoint && !exists(m.Source)) {
        throw fail(`bind source path does not exist: ${m.Source}`);
      }
      return;
    case 'volume':
      if (m.has.bind) throw fail('field BindOptions must not be specified');
      if (!m.Source && m.ReadOnly) {
        throw fail('must not set ReadOnly mode when using anonymous volumes');
      }
      return;
    case 'tmpfs':
      if (m.has.bind) throw fail('field BindOptions must not be specified');
      if (m.Source) throw fail('field Source must not be specified');
      return;
    default:
      throw fail('mount type unknown');
  }
}

/** What a `-v` string or a Mount asks for, before volumes are looked up. */
export interface ParsedMount {
  point: MountPoint;
  /** Volumes: the driver asked for ("" = any), its options and labels (Mounts only). */
  driver: string;
  driverOpts?: Record<string, string>;
  labels?: Record<string, string>;
}

/**
 * dockerd's ParseMountRaw: `[SOURCE:]TARGET[:MODE]`. An absolute source is a
 * bind, anything else a volume name (a relative path then fails the volume
 * name check, as dockerd's). A bind's missing host directory is made at start.
 */
export function parseBind(raw: string, volumeDriver = ''): ParsedMount {
  if ((raw.match(/:/g) ?? []).length > 2) throw errInvalidSpec(raw);
  const arr = raw.split(':');
  if (arr[0] === '') throw errInvalidSpec(raw);
  let source = '';
  let target: string;
  let mode = '';
  if (arr.length === 1) {
    target = arr[0]!;
  } else if (arr.length === 2) {
    // TARGET:MODE is not a volume: volumes cannot have a mode without a source.
    if (validMode(arr[1]!)) throw errInvalidSpec(raw);
    [source, target] = [arr[0]!, arr[1]!];
  } else {
    [source, target, mode] = [arr[0]!, arr[1]!, arr[2]!];
  }
  if (!validMode(mode)) throw errInvalidMode(mode);
  const type: MountType = posix.isAbsolute(source) ? 'bind' : 'volume';
  const parts = mode.split(',');
  const prop = propagationOf(mode);
  const req: MountRequest = {
    Type: type,
    Source: source,
    Target: target,
    ReadOnly: !readWrite(mode),
    Propagation: prop,
    NonRecursive: false,
    CreateMountpoint: true,
    NoCopy: parts.includes('nocopy'),
    Driver: type === 'volume' ? volumeDriver : '',
    TmpfsSize: 0,
    TmpfsMode: 0,
    has: { bind: prop !== undefined, volume: false, tmpfs: false },
  };
  try {
    validateMount(req);
  } catch (e) {
    throw invalid(`invalid volume specification: '${raw}': ${(e as Error).message}`);
  }
  const parsed = toMountPoint(req);
  parsed.point.Mode = mode;
  if (type === 'bind') parsed.point.CreateSource = true;
  return parsed;
}

/** dockerd's parseMountSpec after validation: the mount point a request makes. */
export function toMountPoint(m: MountRequest): ParsedMount {
  const point: MountPoint = {
    Type: m.Type as MountType,
    Source: '',
    Destination: posix.normalize(m.Target.replace(/\\/g, '/')).replace(/(.)\/$/, '$1'),
    Mode: '',
    RW: !m.ReadOnly,
    Propagation: '',
  };
  if (m.Type === 'volume') {
    point.Name = m.Source;
    point.Anonymous = !m.Source;
    point.CopyData = !m.NoCopy;
  } else if (m.Type === 'bind') {
    point.Source = posix.normalize(m.Source.replace(/\\/g, '/')).replace(/(.)\/$/, '$1');
    point.Propagation = m.Propagation || 'rprivate';
    if (m.NonRecursive) point.NonRecursive = true;
    // BindOptions.CreateMountpoint: made at start when missing, as dockerd's.
    if (m.CreateMountpoint) point.CreateSource = true;
  } else {
    point.TmpfsData = tmpfsData(m.TmpfsSize, m.TmpfsMode, m.ReadOnly);
  }
  return { point, driver: m.Driver, driverOpts: m.DriverOpts, labels: m.Labels };
}

/** dockerd's ConvertTmpfsOptions: ro, mode in octal, size with the largest even suffix. */
export function tmpfsData(size: number, mode: number, readOnly: boolean): string {
  const out: string[] = [];
  if (readOnly) out.push('ro');
  if (mode) out.push(`mode=${mode.toString(8)}`);
  if (size) {
    const unit = [
      ['g', 2 ** 30],
      ['m', 2 ** 20],
      ['k', 2 ** 10],
    ].find(([, d]) => size % (d as number) === 0);
    out.push(unit ? `size=${size / (unit[1] as number)}${unit[0]}` : `size=${size}`);
  }
  return out.join(',');
}

/** Mount flags tmpfs options may carry (moby/sys/mount's flags), and which are propagation. */
const FLAG_OPTS = new Map<string, string>([
  ['ro', 'rdonly'],
  ['rw', 'rdonly'],
  ['suid', 'nosuid'],
  ['nosuid', 'nosuid'],
  ['dev', 'nodev'],
  ['nodev', 'nodev'],
  ['exec', 'noexec'],
  ['noexec', 'noexec'],
  ['sync', 'sync'],
  ['async', 'sync'],
  ['dirsync', 'dirsync'],
  ['remount', 'remount'],
  ['mand', 'mand'],
  ['nomand', 'mand'],
  ['atime', 'noatime'],
  ['noatime', 'noatime'],
  ['diratime', 'nodiratime'],
  ['nodiratime', 'nodiratime'],
  ['relatime', 'relatime'],
  ['norelatime', 'relatime'],
  ['strictatime', 'strictatime'],
  ['nostrictatime', 'strictatime'],
  ...['bind', 'rbind', 'unbindable', 'runbindable', ...PROPAGATIONS].map(
    (p) => [p, 'propagation'] as [string, string],
  ),
]);
const TMPFS_DATA = new Set(['', 'size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol']);

/**
 * The options of a tmpfs mount in the OCI spec, as dockerd builds them:
 * noexec, nosuid, nodev, rprivate, then the user's; later ones win (one per
 * flag, one propagation, one per data key), as moby's MergeTmpfsOptions.
 * Throws dockerd's message for an option tmpfs does not take.
 */
export function tmpfsOptions(data: string): string[] {
  const all = ['noexec', 'nosuid', 'nodev', 'rprivate', ...(data ? data.split(',') : [])];
  const seenFlags = new Set<string>();
  const seenData = new Set<string>();
  const out: string[] = [];
  for (let i = all.length - 1; i >= 0; i--) {
    const o = all[i]!;
    if (o === 'defaults') continue;
    const flag = FLAG_OPTS.get(o);
    if (flag) {
      if (!seenFlags.has(flag)) out.unshift(o);
      seenFlags.add(flag);
      continue;
    }
    const eq = o.indexOf('=');
    const key = eq < 0 ? undefined : o.slice(0, eq);
    if (key === undefined || !TMPFS_DATA.has(key)) {
      // Go's %q of the option split at its first "=".
      const parts = eq < 0 ? [o] : [o.slice(0, eq), o.slice(eq + 1)];
      throw invalid(`Invalid tmpfs option [${parts.map((x) => JSON.stringify(x)).join(' ')}]`);
    }
    if (!seenData.has(key)) out.unshift(o);
    seenData.add(key);
  }
  return out;
}

/** dockerd's ValidateTmpfsMountDestination for a HostConfig.Tmpfs key. */
export function checkTmpfsDestination(dest: string): void {
  const bad = checkTarget(dest);
  if (bad) throw invalid(bad);
}

/** dockerd's ParseVolumesFrom: `CONTAINER[:ro|rw]` (no propagation, no copy mode). */
export function parseVolumesFrom(spec: string): { id: string; mode: string } {
  if (!spec) throw invalid('volumes-from specification cannot be an empty string');
  const at = spec.indexOf(':');
  if (at < 0) return { id: spec, mode: 'rw' };
  const mode = spec.slice(at + 1);
  const parts = mode.split(',');
  if (!validMode(mode) || propagationOf(mode) || parts.includes('nocopy')) {
    throw errInvalidMode(mode);
  }
  return { id: spec.slice(0, at), mode };
}

/** Docker's restricted name pattern, for local volume names. */
export const VOLUME_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** The local driver's name check, in dockerd's words (without the `create NAME: ` prefix). */
export function volumeNameError(name: string): string | undefined {
  if (name.length === 1) {
    return 'volume name is too short, names should be at least two alphanumeric characters';
  }
  if (!VOLUME_NAME_RE.test(name)) {
    return (
      `"${name}" includes invalid characters for a local volume name, only ` +
      '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'
    );
  }
  return undefined;
}

/**
 * The local driver's options (`-o type=… device=… o=…`), in dockerd's words:
 * only these keys, `device` and `type` together, `o` with both. `size`
 * (a quota) needs quota support dockerd finds only on some filesystems;
 * Berth has none and refuses it with dockerd's message.
 */
export function localOptsError(opts: Record<string, string>): string | undefined {
  const keys = Object.keys(opts);
  for (const k of keys) {
    if (!['type', 'o', 'device', 'size'].includes(k)) return `invalid option: "${k}"`;
  }
  const needs: Record<string, string[]> = {
    device: ['type'],
    type: ['device'],
    o: ['device', 'type'],
  };
  for (const [k, req] of Object.entries(needs)) {
    if (!(k in opts)) continue;
    for (const r of req) if (!(r in opts)) return `missing required option: "${r}"`;
  }
  if ('size' in opts) return 'quota size requested but no quota support';
  return undefined;
}

/** The Mounts of inspect and of a list row, as dockerd's addMountPoints. */
export function mountsView(points: MountPoint[] | undefined): object[] {
  return (points ?? []).map((m) => ({
    Type: m.Type,
    ...(m.Name ? { Name: m.Name } : {}),
    Source: m.Source,
    Destination: m.Destination,
    ...(m.Driver ? { Driver: m.Driver } : {}),
    Mode: m.Mode,
    RW: m.RW,
    Propagation: m.Propagation,
  }));
}
