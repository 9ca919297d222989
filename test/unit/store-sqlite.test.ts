/**
 * The embedded SQLite store: the shared KvStore contract, plus what only this
 * implementation promises (file layout, pragmas, range scans, cached
 * statements, sharing one file between connections).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { hasCode } from '../../src/common/errors.js';
import { SqliteStore } from '../../src/store/embedded/sqlite.js';
import { SQL, prefixEnd } from '../../src/store/embedded/schema.js';
import { openEmbeddedStore, EMBEDDED_DB_FILE } from '../../src/store/index.js';
import type { WatchEvent } from '../../src/store/types.js';
import { runStoreContract } from './store-contract.js';

const root = mkdtempSync(join(tmpdir(), 'berth-store-test-'));
let n = 0;
const nextPath = (): string => join(root, `s${++n}`, 'nested', 'berth.db');

runStoreContract(
  'sqlite',
  async () => SqliteStore.open(nextPath()),
  () => rmSync(root, { recursive: true, force: true }),
);

describe('SqliteStore specifics', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-store-sqlite-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = (name: string): string => join(dir, name, 'berth.db');

  it('prefixEnd is the tightest exclusive upper bound', () => {
    assert.equal(prefixEnd(''), undefined);
    assert.equal(prefixEnd('a/'), 'a0');
    assert.equal(prefixEnd('a\u{10FFFF}'), 'b');
    assert.equal(prefixEnd('\u{10FFFF}\u{10FFFF}'), undefined);
    assert.equal(prefixEnd('x\uD7FF'), 'x\uE000');
    assert.equal(prefixEnd('x\uFFFF'), 'x\u{10000}');
    assert.equal(prefixEnd('x\u{1F600}'), 'x\u{1F601}');
  });

  it('openEmbeddedStore creates <dataRoot>/berth.db in WAL mode', async () => {
    const dataRoot = join(dir, 'root', 'deeper');
    const s = await openEmbeddedStore(dataRoot);
    await s.put('k', 'v');
    const file = join(dataRoot, EMBEDDED_DB_FILE);
    assert.ok(existsSync(file));
    const peek = new Database(file, { readonly: true });
    try {
      assert.equal(peek.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      peek.close();
    }
    const db = (s as unknown as { db: Database.Database }).db;
    assert.equal(db.pragma('synchronous', { simple: true }), 1, 'synchronous=NORMAL');
    assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
    await s.close();
  });

  it('keeps data and the revision across reopen', async () => {
    const p = path('reopen');
    const a = SqliteStore.open(p);
    await a.put('x', '1');
    const r = await a.put('y', '2');
    await a.delete('y');
    await a.close();
    const b = SqliteStore.open(p);
    assert.equal(await b.revision(), r + 1);
    assert.equal((await b.get('x'))?.value, '1');
    assert.equal(await b.get('y'), undefined);
    assert.equal(await b.put('z', '3'), r + 2);
    await b.close();
  });

  it('lists and deletes prefixes with an index range scan, no sort', () => {
    const s = SqliteStore.open(path('plan'));
    const db = (s as unknown as { db: Database.Database }).db;
    const plan = (sql: string, ...args: string[]): string =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[])
        .map((r) => r.detail)
        .join('; ');
    for (const sql of [SQL.listRange, SQL.keysRange, SQL.deleteRange]) {
      const p = plan(sql, 'a/', 'a0');
      assert.match(p, /SEARCH kv USING PRIMARY KEY \(key>\? AND key<\?\)/, p);
      assert.doesNotMatch(p, /TEMP B-TREE|SCAN/, p);
    }
    assert.match(plan(SQL.listFrom, 'a/'), /SEARCH kv USING PRIMARY KEY \(key>\?\)/);
    void s.close();
  });

  it('does not prepare statements after open', async () => {
    const proto = Database.prototype as unknown as { prepare: (...a: unknown[]) => unknown };
    const original = proto.prepare;
    let prepared = 0;
    proto.prepare = function (this: unknown, ...args: unknown[]) {
      prepared++;
      return original.apply(this, args);
    };
    try {
      const s = SqliteStore.open(path('prepare'));
      const atOpen = prepared;
      const stop = await s.watch('', () => undefined);
      for (let i = 0; i < 20; i++) {
        const r = await s.put(`k/${i}`, 'v');
        await s.put(`k/${i}`, 'w', { ifModRevision: r });
        await s.get(`k/${i}`);
        await s.txn([{ key: `k/${i}`, modRevision: 0 }], [], [{ type: 'delete', key: `k/${i}` }]);
        await s.list('k/');
        await s.list('');
        await s.txn([], [{ type: 'deletePrefix', prefix: 'k/' }]);
        await s.txn([], [{ type: 'deletePrefix', prefix: '' }]);
        await s.delete('k/x', { ifModRevision: 0 });
        await s.revision();
      }
      stop();
      assert.equal(prepared, atOpen);
      await s.close();
    } finally {
      proto.prepare = original;
    }
  });

  it('shares one file between connections without reusing revisions', async () => {
    const p = path('shared');
    const a = SqliteStore.open(p);
    const b = SqliteStore.open(p);
    const revs: number[] = [];
    for (let i = 0; i < 20; i++) {
      revs.push(await a.put(`a/${i}`, 'x'));
      revs.push(await b.put(`b/${i}`, 'y'));
    }
    assert.deepEqual(
      revs,
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    const rb = (await b.get('a/3'))?.modRevision;
    assert.equal(rb, 7);
    await b.put('a/3', 'from b', { ifModRevision: rb });
    await assert.rejects(a.put('a/3', 'stale', { ifModRevision: rb }), (e) =>
      hasCode(e, 'CONFLICT'),
    );
    await a.close();
    await b.close();
  });

  it('refuses a file written by a newer schema', async () => {
    const p = path('newer');
    await SqliteStore.open(p).close();
    const db = new Database(p);
    db.pragma('user_version = 99');
    db.close();
    assert.throws(
      () => SqliteStore.open(p),
      (e) => hasCode(e, 'INTERNAL') && /schema 99/.test(String(e)),
    );
  });

  it('reports a throwing watch callback without starving other watchers', async () => {
    const errors: unknown[] = [];
    const s = SqliteStore.open(path('throw'), { onWatchError: (e) => errors.push(e) });
    const seen: WatchEvent[] = [];
    await s.watch('', () => {
      throw new Error('boom');
    });
    await s.watch('', (ev) => seen.push(ev));
    await s.put('k', 'v');
    await new Promise((r) => setImmediate(r));
    assert.equal(seen.length, 1);
    assert.equal(errors.length, 1);
    await s.close();
  });
});
