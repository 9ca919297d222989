/**
 * Container records in the store, cached in memory (one daemon per data-root
 * owns them). Names are unique through a compare-and-swap on a name key, so
 * two concurrent creates with one name can't both win.
 */
import { conflict, notFound } from '../common/errors.js';
import type { KvStore, Op } from '../store/types.js';
import type { ContainerRecord } from './types.js';

const BY_ID = 'containers/by-id/';
const NAMES = 'containers/names/';

export class ContainerRepo {
  private byId = new Map<string, ContainerRecord>();

  constructor(private readonly kv: KvStore) {}

  /** Loads every record from the store. */
  async load(): Promise<void> {
    for (const e of await this.kv.list(BY_ID)) {
      const c = JSON.parse(e.value) as ContainerRecord;
      this.byId.set(c.Id, c);
    }
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
      [{ key: NAMES + c.Name.slice(1), modRevision: 0 }],
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
   * words when the name is taken. The caller updates its records after.
   */
  async rename(c: ContainerRecord, next: ContainerRecord, ops: Op[]): Promise<void> {
    const r = await this.kv.txn(
      [{ key: NAMES + next.Name.slice(1), modRevision: 0 }],
      [
        { type: 'delete', key: NAMES + c.Name.slice(1) },
        { type: 'put', key: NAMES + next.Name.slice(1), value: c.Id },
        this.saveOp(next),
        ...ops,
      ],
    );
    if (!r.succeeded) {
      throw conflict(`Error when allocating new name: ${await this.nameInUse(next.Name)}`);
    }
  }

  private async nameInUse(name: string): Promise<string> {
    const owner = (await this.kv.get(NAMES + name.slice(1)))?.value ?? '';
    return (
      `Conflict. The container name "${name}" is already in use by container "${owner}". ` +
      'You have to remove (or rename) that container to be able to reuse that name.'
    );
  }

  /** Persists the record's current state. */
  async save(c: ContainerRecord): Promise<void> {
    await this.kv.put(BY_ID + c.Id, JSON.stringify(c));
  }

  /** The store op that saves `c`, for a transaction with other records. */
  saveOp(c: ContainerRecord): Op {
    return { type: 'put', key: BY_ID + c.Id, value: JSON.stringify(c) };
  }

  /** Deletes the record and frees its name. */
  async remove(c: ContainerRecord): Promise<void> {
    await this.kv.txn(
      [],
      [
        { type: 'delete', key: BY_ID + c.Id },
        { type: 'delete', key: NAMES + c.Name.slice(1) },
      ],
    );
    this.byId.delete(c.Id);
  }
}
