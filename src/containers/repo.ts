/**
 * Container records in the store, cached in memory (one daemon per data-root
 * owns them). Names are unique through a compare-and-swap on a name key, so
 * two concurrent creates with one name can't both win. A record exists from
 * its insert to its remove and never after: every later write is a
 * compare-and-swap on the record's key, so a save that comes late (a pending
 * restart after `rm -f`) cannot bring a removed container back, nor give a
 * name to two containers.
 */
import { conflict, notFound } from '../common/errors.js';
import type { KvStore, Op } from '../store/types.js';
import type { ContainerRecord } from './types.js';

const BY_ID = 'containers/by-id/';
const NAMES = 'containers/names/';

/** The error for a write to a record that was removed. */
const gone = (c: ContainerRecord) => notFound(`No such container: ${c.Id}`);

export class ContainerRepo {
  private byId = new Map<string, ContainerRecord>();
  /** Records loaded without their name key: see takeStrays. */
  private strays: ContainerRecord[] = [];

  constructor(private readonly kv: KvStore) {}

  /**
   * Loads every record from the store. A record whose name key does not name
   * it is a removed container that a late save wrote back (berthd before
   * this check did that): it is kept out of the repo, for the recovery to
   * delete (takeStrays). A name key whose record is gone is freed.
   */
  async load(): Promise<void> {
    const names = new Map((await this.kv.list(NAMES)).map((e) => [e.key.slice(NAMES.length), e]));
    const ids = new Set<string>();
    for (const e of await this.kv.list(BY_ID)) {
      const c = JSON.parse(e.value) as ContainerRecord;
      ids.add(c.Id);
      if (names.get(c.Name.slice(1))?.value === c.Id) this.byId.set(c.Id, c);
      else this.strays.push(c);
    }
    for (const e of names.values()) {
      if (!ids.has(e.value)) {
        await this.kv.delete(e.key, { ifModRevision: e.modRevision }).catch(() => undefined);
      }
    }
  }

  /** The records load() kept out (each once): removed containers to clean up. */
  takeStrays(): ContainerRecord[] {
    const s = this.strays;
    this.strays = [];
    return s;
  }

  /** Deletes a stray's record; its name key is another container's, or nobody's. */
  async removeStray(c: ContainerRecord): Promise<void> {
    await this.kv.delete(BY_ID + c.Id);
  }

  all(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  /** Resolves a full ID, a name (with or without "/"), or a unique ID prefix. */
  find(ref: string): ContainerRecord | undefined {
    const exact = this.byId.get(ref);
    if (exact) return exact;
    const name = ref.startsWith('/') ? ref : `/${ref}`;
    for (const c of this.byId.values()) if (c.Name === name) return c;
    if (!/^[0-9a-f]+$/.test(ref)) return undefined;
    const m = this.all().filter((c) => c.Id.startsWith(ref));
    return m.length === 1 ? m[0] : undefined;
  }

  /** Like find, but 404 `No such container: ref`. */
  get(ref: string): ContainerRecord {
    const c = this.find(ref);
    if (!c) throw notFound(`No such container: ${ref}`);
    return c;
  }

  /** Stores a new container, claiming its name atomically (409 if taken). */
  async insert(c: ContainerRecord): Promise<void> {
    const r = await this.kv.txn(
      [
        { key: NAMES + c.Name.slice(1), modRevision: 0 },
        { key: BY_ID + c.Id, modRevision: 0 },
      ],
      [
        { type: 'put', key: NAMES + c.Name.slice(1), value: c.Id },
        { type: 'put', key: BY_ID + c.Id, value: JSON.stringify(c) },
      ],
    );
    if (!r.succeeded) throw conflict(await this.nameInUse(c.Name));
    this.byId.set(c.Id, c);
  }

  /**
   * Gives `c` the name `next.Name` (checked by the caller): the name key moves
   * and `next` is saved in one transaction with `ops`; 409 with Docker's
   * words when the name is taken, 404 if `c` was removed. The caller updates
   * its records after.
   */
  async rename(c: ContainerRecord, next: ContainerRecord, ops: Op[]): Promise<void> {
    const rev = await this.revision(c);
    const r = await this.kv.txn(
      [
        { key: NAMES + next.Name.slice(1), modRevision: 0 },
        { key: BY_ID + c.Id, modRevision: rev },
      ],
      [
        { type: 'delete', key: NAMES + c.Name.slice(1) },
        { type: 'put', key: NAMES + next.Name.slice(1), value: c.Id },
        this.saveOp(next),
        ...ops,
      ],
    );
    if (!r.succeeded) {
      if ((await this.kv.get(BY_ID + c.Id))?.modRevision !== rev) throw gone(c);
      throw conflict(`Error when allocating new name: ${await this.nameInUse(next.Name)}`);
    }
  }

  /** The store revision of `c`'s record; 404 if it was removed. */
  private async revision(c: ContainerRecord): Promise<number> {
    const cur = this.byId.has(c.Id) ? await this.kv.get(BY_ID + c.Id) : undefined;
    if (!cur) throw gone(c);
    return cur.modRevision;
  }

  private async nameInUse(name: string): Promise<string> {
    const owner = (await this.kv.get(NAMES + name.slice(1)))?.value ?? '';
    return (
      `Conflict. The container name "${name}" is already in use by container "${owner}". ` +
      'You have to remove (or rename) that container to be able to reuse that name.'
    );
  }

  /**
   * Persists the record's current state: only over the record itself (a
   * compare-and-swap), never in its place once it is removed (404).
   */
  async save(c: ContainerRecord): Promise<void> {
    const rev = await this.revision(c);
    const r = await this.kv.txn([{ key: BY_ID + c.Id, modRevision: rev }], [this.saveOp(c)]);
    if (!r.succeeded) throw gone(c);
  }

  /**
   * The store op that saves `c`, for a transaction with other records. The
   * caller holds the container's lock and has checked that it still exists
   * (a removal takes the same lock).
   */
  saveOp(c: ContainerRecord): Op {
    return { type: 'put', key: BY_ID + c.Id, value: JSON.stringify(c) };
  }

  /** Deletes the record and frees its name (only if the name is its own). */
  async remove(c: ContainerRecord): Promise<void> {
    const name = await this.kv.get(NAMES + c.Name.slice(1));
    const own = name?.value === c.Id;
    await this.kv.txn(
      own ? [{ key: NAMES + c.Name.slice(1), modRevision: name.modRevision }] : [],
      [
        { type: 'delete', key: BY_ID + c.Id },
        ...(own ? [{ type: 'delete' as const, key: NAMES + c.Name.slice(1) }] : []),
      ],
      [{ type: 'delete', key: BY_ID + c.Id }],
    );
    this.byId.delete(c.Id);
  }
}
