/**
 * Volumes of the `local` driver, as dockerd 20.10 keeps them: a record per
 * volume in the store (`volumes/<name>`: name, driver, creation time,
 * labels, options, whether a container made it without a name), its data in
 * `<data-root>/volumes/<name>/_data`. A volume is in use while a container
 * record names it in its mount points (any state, as dockerd's references),
 * or while a create that names it is under way; removing it then is refused
 * with dockerd's 409. A volume with `-o type/device/o` is mounted on its
 * `_data` while a running container uses it. Removal unmounts first and never
 * crosses a mount (removeTree), so a user's directory behind a bind-type
 * volume is never deleted. Size: just over 400 lines, the records, the API's
 * filters and the mounts of one driver; a second driver would split it.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, conflict, invalid, messageOf, notFound } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { EventBus } from '../events/bus.js';
import { treeSize } from '../kernel/pack.js';
import { isMounted, mountWithOptions, removeTree, unmountAll } from '../kernel/mount/mounts.js';
import { runOk } from '../kernel/process/run.js';
import type { KvStore } from '../store/types.js';
import { localOptsError, volumeNameError } from './parse.js';

const PREFIX = 'volumes/';

/** One volume as the store keeps it. */
export interface VolumeRecord {
  Name: string;
  Driver: 'local';
  /** RFC 3339, seconds. */
  CreatedAt: string;
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
  /** Made for a container that did not name it (image VOLUME, `-v /ctr`). */
  Anonymous?: boolean;
}

/** A container that names a volume in its mount points. */
export interface VolumeUser {
  id: string;
  running: boolean;
}

/** What a create asks for (the API's body, or a container's mount). */
export interface VolumeCreate {
  name?: string;
  driver?: string;
  opts?: Record<string, string> | null;
  labels?: Record<string, string> | null;
}

/** Throws Berth's refusal unless `driver` is the local one ("" means local). */
export function checkDriver(driver: string | undefined): void {
  if (driver && driver !== 'local') {
    throw invalid(
      `berth does not support the volume driver "${driver}" yet: only "local" (leave the driver out)`,
    );
  }
}

const labelsMatch = (labels: Record<string, string> | null, specs: string[]): boolean =>
  Object.keys(labels ?? {}).length > 0 &&
  specs.every((s) => {
    const i = s.indexOf('=');
    const l = labels ?? {};
    return i < 0 ? s in l : l[s.slice(0, i)] === s.slice(i + 1);
  });

/** dockerd's filters.Match: an exact name, or a regular expression matching part of it. */
function nameMatches(name: string, specs: string[]): boolean {
  return specs.some((s) => {
    if (s === name) return true;
    try {
      return new RegExp(s).test(name);
    } catch {
      return false;
    }
  });
}

export class VolumeService {
  private byName = new Map<string, VolumeRecord>();
  /** Per-name chains: a create, a reference and a removal of one name never interleave. */
  private chains = new Map<string, Promise<unknown>>();
  /** Volumes named by creates under way, with the containers being made. */
  private pending = new Map<string, Set<string>>();
  /** The containers that name a volume (set by the daemon: the container records). */
  users: (name: string) => VolumeUser[] = () => [];

  constructor(
    private readonly kv: KvStore,
    private readonly dataRoot: string,
    private readonly events: EventBus | undefined,
    private readonly log: Logger | undefined,
  ) {}

  /** `<data-root>/volumes`. */
  get root(): string {
    return join(this.dataRoot, 'volumes');
  }
  /** The volume's data: `<data-root>/volumes/<name>/_data`. */
  dataPath(name: string): string {
    return join(this.root, name, '_data');
  }

  /** Loads the records; a volume's missing directory is made again (empty). */
  async load(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o701 });
    for (const e of await this.kv.list(PREFIX)) {
      const v = JSON.parse(e.value) as VolumeRecord;
      this.byName.set(v.Name, v);
      await mkdir(this.dataPath(v.Name), { recursive: true, mode: 0o755 });
    }
  }

  private locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.chains.set(name, tail);
    void tail.then(() => {
      if (this.chains.get(name) === tail) this.chains.delete(name);
    });
    return next;
  }

  /** The API's view of a volume (GET /volumes/{name}, the list). */
  view(v: VolumeRecord): Record<string, unknown> {
    return {
      CreatedAt: v.CreatedAt,
      Driver: v.Driver,
      Labels: v.Labels,
      Mountpoint: this.dataPath(v.Name),
      Name: v.Name,
      Options: v.Options,
      Scope: 'local',
    };
  }

  all(): VolumeRecord[] {
    return [...this.byName.values()].sort((a, b) => (a.Name < b.Name ? -1 : 1));
  }

  find(name: string): VolumeRecord | undefined {
    return this.byName.get(name);
  }

  /** 404 `get NAME: no such volume`, as dockerd. */
  get(name: string): VolumeRecord {
    const v = this.byName.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return v;
  }

  /** `system df`'s view of a volume: its view with UsageData (bytes, containers using it). */
  async usage(v: VolumeRecord): Promise<Record<string, unknown>> {
    return {
      ...this.view(v),
      UsageData: {
        Size: await treeSize(this.dataPath(v.Name)),
        RefCount: this.refs(v.Name).length,
      },
    };
  }

  /** Containers using the volume: their records, and creates under way. */
  private refs(name: string): string[] {
    const ids = new Set(this.users(name).map((u) => u.id));
    for (const id of this.pending.get(name) ?? []) ids.add(id);
    return [...ids].sort();
  }

  /**
   * POST /volumes/create: the volume, made unless one of that name exists
   * (then that one, unchanged, as dockerd). A nameless create gets 64 hex.
   */
  async create(req: VolumeCreate, anonymous = false): Promise<VolumeRecord> {
    const name = req.name || randomBytes(32).toString('hex');
    return this.locked(name, () => this.createLocked(name, req, anonymous));
  }

  private async createLocked(
    name: string,
    req: VolumeCreate,
    anonymous: boolean,
  ): Promise<VolumeRecord> {
    checkDriver(req.driver);
    const bad = volumeNameError(name);
    if (bad) throw invalid(`create ${name}: ${bad}`);
    const existing = this.byName.get(name);
    if (existing) return existing;
    const opts = req.opts ?? null;
    const optsBad = opts && localOptsError(opts);
    if (optsBad) throw invalid(`create ${name}: ${optsBad}`);
    const v: VolumeRecord = {
      Name: name,
      Driver: 'local',
      CreatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      Labels: req.labels ?? null,
      Options: opts,
      ...(anonymous ? { Anonymous: true } : {}),
    };
    await mkdir(this.dataPath(name), { recursive: true, mode: 0o755 });
    const r = await this.kv.txn(
      [{ key: PREFIX + name, modRevision: 0 }],
      [{ type: 'put', key: PREFIX + name, value: JSON.stringify(v) }],
    );
    if (!r.succeeded) throw conflict(`create ${name}: a volume with this name is being made`);
    this.byName.set(name, v);
    this.events?.publish('volume', 'create', name, { driver: 'local' });
    return v;
  }

  /**
   * A container being created names the volume (made if missing, anonymous
   * when unnamed): it counts as in use until `settle(containerId)`.
   */
  async reference(req: VolumeCreate, containerId: string): Promise<VolumeRecord> {
    const name = req.name || randomBytes(32).toString('hex');
    return this.locked(name, async () => {
      const v = await this.createLocked(name, req, !req.name);
      const set = this.pending.get(name) ?? new Set<string>();
      set.add(containerId);
      this.pending.set(name, set);
      return v;
    });
  }

  /** The create of `containerId` is over: its record (if stored) now holds its references. */
  settle(containerId: string): void {
    for (const [name, set] of this.pending) {
      set.delete(containerId);
      if (!set.size) this.pending.delete(name);
    }
  }

  /**
   * DELETE /volumes/{name}: 409 `remove NAME: volume is in use - [ids]`
   * while a container names it; with `force` a missing volume is no error.
   */
  async remove(name: string, force = false): Promise<void> {
    await this.locked(name, async () => {
      const v = this.byName.get(name);
      if (!v) {
        if (force) return;
        throw notFound(`get ${name}: no such volume`);
      }
      const refs = this.refs(name);
      if (refs.length) {
        throw conflict(`remove ${name}: volume is in use - [${refs.join(', ')}]`);
      }
      await this.destroy(v);
    });
  }

  /** The record first (a crash after leaves only a directory, swept at start), then the data. */
  private async destroy(v: VolumeRecord): Promise<void> {
    await this.kv.delete(PREFIX + v.Name);
    this.byName.delete(v.Name);
    await this.removeDir(v.Name);
    this.events?.publish('volume', 'destroy', v.Name, { driver: v.Driver });
  }

  /** Unmounts the volume's `_data`, then removes its directory, refusing to cross a mount left. */
  private async removeDir(name: string): Promise<void> {
    const dir = join(this.root, name);
    await unmountAll(this.dataPath(name));
    await removeTree(dir);
  }

  /**
   * Removes directories under `<data-root>/volumes` no record names (a removal
   * a killed daemon left half-done), and unmounts the `_data` of volumes with
   * options that no running container uses. Only Berth's own directories;
   * removeTree refuses any with a mount inside.
   */
  async sweep(): Promise<void> {
    for (const e of await readdir(this.root, { withFileTypes: true }).catch(() => [])) {
      if (!e.isDirectory() || this.byName.has(e.name)) continue;
      this.log?.warn(`removing volume directory ${e.name}: no volume has that name`);
      await this.removeDir(e.name).catch((err) => this.log?.warn(messageOf(err)));
    }
    for (const v of this.byName.values()) await this.releaseMount(v.Name);
  }

  /**
   * GET /volumes: dockerd's filters `dangling`, `name` (exact or a regular
   * expression), `driver`, `label` (all of them).
   */
  list(filters: Map<string, string[]>): VolumeRecord[] {
    for (const k of filters.keys()) {
      if (!['dangling', 'name', 'driver', 'label'].includes(k)) {
        throw invalid(`Invalid filter '${k}'`);
      }
    }
    let dangling: boolean | undefined;
    const d = filters.get('dangling');
    if (d) {
      if (d.includes('true') || d.includes('1')) dangling = true;
      else if (d.includes('false') || d.includes('0')) dangling = false;
      else throw invalid(`Invalid filter 'dangling=[${d.join(' ')}]'`);
    }
    const names = filters.get('name') ?? [];
    const drivers = filters.get('driver') ?? [];
    const labels = filters.get('label') ?? [];
    return this.all().filter(
      (v) =>
        (!names.length || nameMatches(v.Name, names)) &&
        (!drivers.length || drivers.includes(v.Driver)) &&
        (!labels.length || labelsMatch(v.Labels, labels)) &&
        (dangling === undefined || dangling === (this.refs(v.Name).length === 0)),
    );
  }

  /**
   * POST /volumes/prune: unused local volumes without options, filtered by
   * `label` and `label!`. dockerd 20.10 (API < 1.42) prunes named ones too;
   * from API 1.42 only anonymous ones unless `all=true`, as later dockerds.
   */
  async prune(
    filters: Map<string, string[]>,
    apiVersion: string | undefined,
  ): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    for (const k of filters.keys()) {
      if (!['label', 'label!', 'all'].includes(k)) throw invalid(`Invalid filter '${k}'`);
    }
    const allF = filters.get('all');
    if (allF && !allF.every((x) => ['true', '1', 'false', '0'].includes(x))) {
      throw invalid(`invalid filter 'all=${allF.join(',')}': value must be a boolean`);
    }
    const oldApi = apiVersion !== undefined && Number(apiVersion) < 1.42;
    const all = oldApi || (allF?.some((x) => x === 'true' || x === '1') ?? false);
    const labels = filters.get('label') ?? [];
    const notLabels = filters.get('label!') ?? [];
    const out = { VolumesDeleted: [] as string[], SpaceReclaimed: 0 };
    for (const v of this.all()) {
      if (Object.keys(v.Options ?? {}).length) continue;
      if (!all && !v.Anonymous) continue;
      if (labels.length && !labelsMatch(v.Labels, labels)) continue;
      if (notLabels.length && labelsMatch(v.Labels, notLabels)) continue;
      await this.locked(v.Name, async () => {
        if (this.byName.get(v.Name) !== v || this.refs(v.Name).length) return;
        const size = await treeSize(this.dataPath(v.Name));
        try {
          await this.destroy(v);
        } catch (e) {
          this.log?.warn(`prune ${v.Name}: ${messageOf(e)}`);
          return;
        }
        out.SpaceReclaimed += size;
        out.VolumesDeleted.push(v.Name);
      });
    }
    this.events?.publish('volume', 'prune', '', { reclaimed: String(out.SpaceReclaimed) });
    return out;
  }

  /**
   * Readies the volume for a starting container: a volume with options is
   * mounted on its `_data` (once, while containers use it). Returns the path.
   */
  async mountFor(name: string): Promise<string> {
    const v = this.get(name);
    const path = this.dataPath(name);
    const o = v.Options ?? {};
    if (o.type || o.device) {
      await this.locked(name, async () => {
        if (await isMounted(path)) return;
        if (!o.device) throw invalid('missing device in volume options');
        try {
          mountWithOptions(o.device, path, o.type ?? '', o.o ?? '');
        } catch (e) {
          throw new BerthError(
            'INVALID_ARGUMENT',
            `error while mounting volume '${path}': failed to mount local volume: ${messageOf(e)}`,
          );
        }
      });
    }
    return path;
  }

  /**
   * Unmounts a volume with options from its `_data` once no running container
   * uses it (`stopped`: a container that is stopping, whatever its record says).
   */
  async releaseMount(name: string, stopped?: string): Promise<void> {
    const v = this.byName.get(name);
    if (!v || !(v.Options?.type || v.Options?.device)) return;
    if (this.users(name).some((u) => u.running && u.id !== stopped)) return;
    await this.locked(name, () => unmountAll(this.dataPath(name))).catch((e) =>
      this.log?.warn(`unmounting volume ${name}: ${messageOf(e)}`),
    );
  }

  /**
   * dockerd's copy-up: the image's content at a volume's destination (`from`,
   * a directory in the container's mounted root, resolved inside it) copied
   * into the volume while the volume is empty, with owners, modes and links.
   */
  async copyUp(name: string, from: string): Promise<void> {
    const to = this.dataPath(name);
    const st = await lstat(from).catch(() => undefined);
    if (!st?.isDirectory()) return;
    if ((await readdir(to)).length) return;
    await runOk(['cp', '-a', '--', `${from}/.`, `${to}/`]);
  }
}
