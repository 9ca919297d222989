/**
 * The one contract every KvStore implementation must satisfy (embedded SQLite
 * now, etcd later). Each test gets a fresh, empty store from `makeStore` and
 * only assumes revisions relative to the store's own start, so an etcd store
 * scoped to a fresh key prefix can run it unchanged.
 */
import { describe, it, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { hasCode } from '../../src/common/errors.js';
import { isCompacted } from '../../src/store/errors.js';
import type { KvStore, WatchEvent } from '../../src/store/types.js';
import { waitFor } from '../helpers/wait.js';

/** Stores order keys by their UTF-8 bytes (etcd's order), not JS's UTF-16 order. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Lets pending deliveries run, so "nothing arrived" means something. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(hasCode(e, code as never), `expected code ${code}, got ${String(e)}`);
    return true;
  });
}

/** Registers the contract suite for one implementation. */
export function runStoreContract(
  name: string,
  makeStore: () => Promise<KvStore>,
  cleanup?: () => Promise<void> | void,
): void {
  describe(`KvStore contract: ${name}`, () => {
    const opened: KvStore[] = [];
    const fresh = async (): Promise<KvStore> => {
      const s = await makeStore();
      opened.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
    });
    if (cleanup) after(cleanup);

    it('starts empty', async () => {
      const s = await fresh();
      assert.equal(await s.get('missing'), undefined);
      assert.deepEqual(await s.list(''), []);
      const rev = await s.revision();
      assert.ok(Number.isSafeInteger(rev) && rev >= 0);
    });

    it('put creates and updates with etcd revision semantics', async () => {
      const s = await fresh();
      const r0 = await s.revision();
      const r1 = await s.put('k', 'v1');
      assert.equal(r1, r0 + 1);
      assert.equal(await s.revision(), r1);
      assert.deepEqual(await s.get('k'), {
        key: 'k',
        value: 'v1',
        createRevision: r1,
        modRevision: r1,
        version: 1,
      });
      await s.put('other', 'x');
      const r3 = await s.put('k', 'v2');
      assert.equal(r3, r1 + 2);
      assert.deepEqual(await s.get('k'), {
        key: 'k',
        value: 'v2',
        createRevision: r1,
        modRevision: r3,
        version: 2,
      });
    });

    it('delete removes, reports existence, and re-creation starts over', async () => {
      const s = await fresh();
      await s.put('k', 'v');
      const before = await s.revision();
      assert.equal(await s.delete('k'), true);
      assert.equal(await s.revision(), before + 1);
      assert.equal(await s.get('k'), undefined);
      assert.equal(await s.delete('k'), false);
      assert.equal(await s.revision(), before + 1, 'deleting nothing is not a write');
      const r = await s.put('k', 'again');
      const e = await s.get('k');
      assert.equal(e?.createRevision, r);
      assert.equal(e?.version, 1);
    });

    it('put with ifModRevision is a compare-and-swap', async () => {
      const s = await fresh();
      const r1 = await s.put('k', 'a', { ifModRevision: 0 });
      await rejectsWith(s.put('k', 'b', { ifModRevision: 0 }), 'CONFLICT');
      const r2 = await s.put('k', 'b', { ifModRevision: r1 });
      assert.equal((await s.get('k'))?.value, 'b');
      await rejectsWith(s.put('k', 'stale', { ifModRevision: r1 }), 'CONFLICT');
      await rejectsWith(s.put('absent', 'x', { ifModRevision: r2 }), 'CONFLICT');
      assert.equal((await s.get('k'))?.value, 'b');
      assert.equal(await s.get('absent'), undefined);
      assert.equal(await s.revision(), r2, 'a failed CAS writes nothing');
    });

    it('delete with ifModRevision is a compare-and-delete', async () => {
      const s = await fresh();
      const r1 = await s.put('k', 'a');
      await s.put('k', 'b');
      await rejectsWith(s.delete('k', { ifModRevision: r1 }), 'CONFLICT');
      await rejectsWith(s.delete('k', { ifModRevision: 0 }), 'CONFLICT');
      const cur = (await s.get('k'))?.modRevision;
      assert.equal(await s.delete('k', { ifModRevision: cur }), true);
      assert.equal(await s.delete('k', { ifModRevision: 0 }), false, 'absent matches 0');
      await rejectsWith(s.delete('k', { ifModRevision: r1 }), 'CONFLICT');
    });

    it('concurrent CAS on one key lets exactly one writer win', async () => {
      const s = await fresh();
      const r = await s.put('lock', 'free');
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => s.put('lock', `owner-${i}`, { ifModRevision: r })),
      );
      assert.equal(results.filter((x) => x.status === 'fulfilled').length, 1);
      for (const x of results) {
        if (x.status === 'rejected') assert.ok(hasCode(x.reason, 'CONFLICT'));
      }
    });

    it('revisions are unique and increasing under concurrent writes', async () => {
      const s = await fresh();
      const r0 = await s.revision();
      const revs = await Promise.all(Array.from({ length: 50 }, (_, i) => s.put(`c/${i}`, `${i}`)));
      assert.equal(new Set(revs).size, 50);
      assert.deepEqual(
        [...revs].sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => r0 + 1 + i),
      );
      assert.equal(await s.revision(), r0 + 50);
    });

    it('txn applies the success branch at one revision when compares hold', async () => {
      const s = await fresh();
      const ra = await s.put('a', '1');
      await s.put('gone', 'x');
      const res = await s.txn(
        [
          { key: 'a', modRevision: ra },
          { key: 'absent', modRevision: 0 },
        ],
        [
          { type: 'put', key: 'a', value: '2' },
          { type: 'put', key: 'b', value: '3' },
          { type: 'delete', key: 'gone' },
        ],
        [{ type: 'put', key: 'failed', value: 'x' }],
      );
      assert.equal(res.succeeded, true);
      assert.equal(res.revision, ra + 2, 'several ops are one revision');
      assert.equal(await s.revision(), res.revision);
      assert.equal((await s.get('a'))?.modRevision, res.revision);
      assert.equal((await s.get('b'))?.modRevision, res.revision);
      assert.equal(await s.get('gone'), undefined);
      assert.equal(await s.get('failed'), undefined);
    });

    it('txn applies the failure branch when a compare fails', async () => {
      const s = await fresh();
      const ra = await s.put('a', '1');
      await s.put('a', '2');
      const res = await s.txn(
        [{ key: 'a', modRevision: ra }],
        [{ type: 'put', key: 'won', value: 'x' }],
        [{ type: 'put', key: 'lost', value: 'y' }],
      );
      assert.equal(res.succeeded, false);
      assert.equal(await s.get('won'), undefined);
      assert.equal((await s.get('lost'))?.modRevision, res.revision);
      const r = await s.revision();
      const none = await s.txn([{ key: 'a', modRevision: 0 }], [{ type: 'delete', key: 'a' }]);
      assert.deepEqual(none, { succeeded: false, revision: r }, 'an empty branch writes nothing');
      assert.equal((await s.get('a'))?.value, '2');
      const empty = await s.txn([], []);
      assert.deepEqual(empty, { succeeded: true, revision: r });
    });

    it('txn is all-or-nothing and rejects ambiguous branches', async () => {
      const s = await fresh();
      await s.put('p/x', '1');
      const r = await s.revision();
      await rejectsWith(
        s.txn(
          [],
          [
            { type: 'put', key: 'ok', value: '1' },
            { type: 'put', key: '', value: 'empty key' },
          ],
        ),
        'INVALID_ARGUMENT',
      );
      await rejectsWith(
        s.txn(
          [],
          [
            { type: 'put', key: 'dup', value: '1' },
            { type: 'put', key: 'dup', value: '2' },
          ],
        ),
        'INVALID_ARGUMENT',
      );
      await rejectsWith(
        s.txn(
          [],
          [
            { type: 'deletePrefix', prefix: 'p/' },
            { type: 'put', key: 'p/y', value: '2' },
          ],
        ),
        'INVALID_ARGUMENT',
      );
      assert.equal(await s.get('ok'), undefined);
      assert.equal(await s.get('dup'), undefined);
      assert.equal((await s.get('p/x'))?.value, '1');
      assert.equal(await s.revision(), r);
    });

    it('rejects invalid arguments', async () => {
      const s = await fresh();
      await rejectsWith(s.put('', 'v'), 'INVALID_ARGUMENT');
      await rejectsWith(s.get(''), 'INVALID_ARGUMENT');
      await rejectsWith(s.put('k', 'v', { ifModRevision: -1 }), 'INVALID_ARGUMENT');
      await rejectsWith(s.put('k', 'v', { ifModRevision: 1.5 }), 'INVALID_ARGUMENT');
      await rejectsWith(s.put('k\uD800', 'v'), 'INVALID_ARGUMENT');
      await rejectsWith(s.put('k', 'lone \uDC00 surrogate'), 'INVALID_ARGUMENT');
    });

    it('list returns exactly the keys under a prefix, in byte order', async () => {
      const s = await fresh();
      const keys = [
        'a',
        'a/',
        'a/b',
        'a/b/c',
        'a/\u0000',
        'a/\u007f',
        'a/\u00ff',
        'a/\uFFFF',
        'a/\u{1F600}',
        'a/\u{10FFFF}',
        'a/\u{10FFFF}\u{10FFFF}',
        'a0',
        'a.',
        'a/b0',
        'b',
        '\u{10FFFF}',
        '\u{10FFFF}x',
      ];
      for (const k of keys) await s.put(k, `v:${k}`);
      const under = async (p: string): Promise<string[]> => (await s.list(p)).map((e) => e.key);
      const expect = (p: string): string[] => keys.filter((k) => k.startsWith(p)).sort(byteOrder);
      for (const p of [
        '',
        'a',
        'a/',
        'a/b',
        'a/b/',
        'a/\u{10FFFF}',
        '\u{10FFFF}',
        'a/\uFFFF',
        'z',
        'a/b/c/d',
      ]) {
        assert.deepEqual(await under(p), expect(p), `prefix ${JSON.stringify(p)}`);
      }
      const slash = await under('a/');
      assert.ok(!slash.includes('a0') && !slash.includes('a'));
      const entry = (await s.list('a/b/c'))[0];
      assert.deepEqual(entry, await s.get('a/b/c'));
    });

    it('list treats SQL wildcard characters literally', async () => {
      const s = await fresh();
      for (const k of ['p%x', 'pAx', 'p_y', 'pBy', 'p\\z', 'p[a]']) await s.put(k, '1');
      assert.deepEqual(
        (await s.list('p%')).map((e) => e.key),
        ['p%x'],
      );
      assert.deepEqual(
        (await s.list('p_')).map((e) => e.key),
        ['p_y'],
      );
      assert.deepEqual(
        (await s.list('p\\')).map((e) => e.key),
        ['p\\z'],
      );
      assert.deepEqual(
        (await s.list('p[')).map((e) => e.key),
        ['p[a]'],
      );
    });

    it('deletePrefix deletes exactly the keys under a prefix at one revision', async () => {
      const s = await fresh();
      for (const k of ['n/1', 'n/2', 'n/2/x', 'n', 'n0', 'm']) await s.put(k, k);
      const r = await s.revision();
      const res = await s.txn([], [{ type: 'deletePrefix', prefix: 'n/' }]);
      assert.equal(res.revision, r + 1);
      assert.deepEqual(
        (await s.list('')).map((e) => e.key),
        ['m', 'n', 'n0'],
      );
      const again = await s.txn([], [{ type: 'deletePrefix', prefix: 'n/' }]);
      assert.equal(again.revision, r + 1, 'deleting nothing is not a write');
      await s.txn([], [{ type: 'deletePrefix', prefix: '' }]);
      assert.deepEqual(await s.list(''), []);
      assert.equal(await s.revision(), r + 2, 'the revision survives an empty store');
    });

    it('stores unicode and awkward values unchanged', async () => {
      const s = await fresh();
      const values = [
        '',
        'héllo wörld',
        '日本語のテキスト',
        '😀👩‍👩‍👧‍👦🏳️‍🌈',
        'e\u0301 combining',
        'nul\u0000inside',
        '\u{10FFFF}\uFFFF',
        JSON.stringify({ name: 'ünï', nested: { list: [1, '✓'] } }),
        'x'.repeat(256 * 1024),
      ];
      for (const [i, v] of values.entries()) await s.put(`u/${i}/ключ/🔑`, v);
      for (const [i, v] of values.entries())
        assert.equal((await s.get(`u/${i}/ключ/🔑`))?.value, v);
      assert.deepEqual(
        (await s.list('u/')).map((e) => e.value),
        values
          .map((_, i) => i)
          .sort((a, b) => byteOrder(`u/${a}/`, `u/${b}/`))
          .map((i) => values[i]),
      );
    });

    it('watch delivers later changes under the prefix, asynchronously and in order', async () => {
      const s = await fresh();
      await s.put('w/before', 'x');
      const events: WatchEvent[] = [];
      const cancel = await s.watch('w/', (ev) => events.push(ev));
      const pending = s.put('w/a', '1');
      assert.equal(events.length, 0, 'never delivered synchronously');
      const r1 = await pending;
      await s.put('w0', 'outside');
      await s.put('w', 'outside');
      const r2 = await s.put('w/a', '2');
      const tx = await s.txn(
        [],
        [
          { type: 'put', key: 'w/b', value: '3' },
          { type: 'delete', key: 'w/before' },
        ],
      );
      const r3 = tx.revision;
      const r4 = (await s.txn([], [{ type: 'deletePrefix', prefix: 'w/' }])).revision;
      await waitFor(() => events.length >= 6, '6 events');
      await settle();
      assert.deepEqual(events, [
        { type: 'put', key: 'w/a', value: '1', revision: r1 },
        { type: 'put', key: 'w/a', value: '2', revision: r2 },
        { type: 'put', key: 'w/b', value: '3', revision: r3 },
        { type: 'delete', key: 'w/before', revision: r3 },
        { type: 'delete', key: 'w/a', revision: r4 },
        { type: 'delete', key: 'w/b', revision: r4 },
      ]);
      cancel();
    });

    it('watch reports nothing for failed or empty writes', async () => {
      const s = await fresh();
      const r = await s.put('f/k', 'v');
      const events: WatchEvent[] = [];
      await s.watch('f/', (ev) => events.push(ev));
      await rejectsWith(s.put('f/k', 'x', { ifModRevision: r + 100 }), 'CONFLICT');
      await s.txn([{ key: 'f/k', modRevision: 0 }], [{ type: 'put', key: 'f/no', value: '1' }]);
      await s.delete('f/absent');
      await s.txn([], [{ type: 'deletePrefix', prefix: 'f/none/' }]);
      await settle();
      assert.deepEqual(events, []);
    });

    it('watch cancel stops delivery and other watchers are unaffected', async () => {
      const s = await fresh();
      const a: WatchEvent[] = [];
      const b: WatchEvent[] = [];
      const cancelA = await s.watch('x/', (ev) => a.push(ev));
      await s.watch('', (ev) => b.push(ev));
      await s.put('x/1', '1');
      await waitFor(() => a.length === 1 && b.length === 1, 'first event');
      cancelA();
      cancelA();
      await s.put('x/2', '2');
      await waitFor(() => b.length === 2, 'second event on b');
      await settle();
      assert.equal(a.length, 1);
    });

    it('watch callbacks may write to the store', async () => {
      const s = await fresh();
      const seen: WatchEvent[] = [];
      await s.watch('r/', (ev) => {
        seen.push(ev);
        if (ev.key === 'r/ping') void s.put('r/pong', `after ${ev.revision}`);
      });
      const r = await s.put('r/ping', '1');
      await waitFor(() => seen.length === 2, 'pong event');
      assert.deepEqual(
        seen.map((e) => [e.key, e.revision]),
        [
          ['r/ping', r],
          ['r/pong', r + 1],
        ],
      );
      assert.equal((await s.get('r/pong'))?.value, `after ${r}`);
    });

    it('listWithRevision then watch from revision + 1 misses nothing and repeats nothing', async () => {
      const s = await fresh();
      await s.put('l/a', '1');
      await s.put('other', 'x');
      const snap = await s.listWithRevision('l/');
      assert.equal(snap.revision, await s.revision());
      assert.deepEqual(snap.entries, await s.list('l/'));
      assert.deepEqual(
        snap.entries.map((e) => e.key),
        ['l/a'],
      );
      // Changes between the list and the watch must still arrive.
      const rb = await s.put('l/b', '2');
      const events: WatchEvent[] = [];
      await s.watch('l/', (ev) => events.push(ev), { fromRevision: snap.revision + 1 });
      const rc = await s.put('l/a', '3');
      await waitFor(() => events.length >= 2, 'two events');
      await settle();
      assert.deepEqual(events, [
        { type: 'put', key: 'l/b', value: '2', revision: rb },
        { type: 'put', key: 'l/a', value: '3', revision: rc },
      ]);
      const empty = await s.listWithRevision('none/');
      assert.deepEqual(empty, { entries: [], revision: rc });
    });

    it('watch fromRevision replays history in order, then goes live', async () => {
      const s = await fresh();
      const r1 = await s.put('h/a', '1');
      const r2 = (
        await s.txn(
          [],
          [
            { type: 'put', key: 'h/b', value: '2' },
            { type: 'put', key: 'h/c', value: '3' },
          ],
        )
      ).revision;
      const r3 = await s.delete('h/a').then(() => s.revision());
      const events: WatchEvent[] = [];
      const errors: unknown[] = [];
      await s.watch('h/', (ev) => events.push(ev), {
        fromRevision: r2,
        onError: (e) => errors.push(e),
      });
      const r4 = await s.put('h/d', '4');
      await waitFor(() => events.length >= 4, 'four events');
      await settle();
      assert.ok(r1 < r2);
      assert.deepEqual(events, [
        { type: 'put', key: 'h/b', value: '2', revision: r2 },
        { type: 'put', key: 'h/c', value: '3', revision: r2 },
        { type: 'delete', key: 'h/a', revision: r3 },
        { type: 'put', key: 'h/d', value: '4', revision: r4 },
      ]);
      assert.deepEqual(errors, []);
      // A start in the future waits for that revision.
      const later: WatchEvent[] = [];
      await s.watch('h/', (ev) => later.push(ev), { fromRevision: r4 + 2 });
      await s.put('h/e', '5');
      const r6 = await s.put('h/f', '6');
      await waitFor(() => later.length >= 1, 'future event');
      await settle();
      assert.deepEqual(later, [{ type: 'put', key: 'h/f', value: '6', revision: r6 }]);
    });

    it('compaction makes older history an error the watcher can resync from', async () => {
      const s = await fresh();
      const r1 = await s.put('c/a', '1');
      await s.put('c/a', '2');
      const r3 = await s.put('c/b', '3');
      const r4 = await s.put('c/b', '4');
      await s.compact(r3);
      await s.compact(r1); // at or below an earlier compaction: nothing to do
      await rejectsWith(s.compact(r4 + 1000), 'INVALID_ARGUMENT');
      const errors: unknown[] = [];
      const events: WatchEvent[] = [];
      await s.watch('c/', (ev) => events.push(ev), {
        fromRevision: r1,
        onError: (e) => errors.push(e),
      });
      await waitFor(() => errors.length === 1, 'the compacted error');
      assert.ok(isCompacted(errors[0]), String(errors[0]));
      assert.ok((errors[0] as { compactRevision: number }).compactRevision > r1);
      await s.put('c/a', 'after');
      await settle();
      assert.deepEqual(events, [], 'a compacted watch delivers nothing');
      // The resync: list, then watch from the list's revision + 1.
      const snap = await s.listWithRevision('c/');
      assert.deepEqual(
        snap.entries.map((e) => [e.key, e.value]),
        [
          ['c/a', 'after'],
          ['c/b', '4'],
        ],
      );
      const resumed: WatchEvent[] = [];
      await s.watch('c/', (ev) => resumed.push(ev), { fromRevision: r4 });
      await waitFor(() => resumed.length >= 2, 'history after the compaction');
      assert.deepEqual(
        resumed.map((e) => e.value),
        ['4', 'after'],
      );
    });

    it('leases: keys live with their lease and go when it is revoked', async () => {
      const s = await fresh();
      const lease = await s.grantLease(30);
      assert.match(lease, /^[1-9][0-9]*$/);
      const ttl = await s.leaseTimeToLive(lease);
      assert.ok(ttl !== undefined && ttl > 20 && ttl <= 30, `ttl ${ttl}`);
      const r1 = await s.put('n/a', 'A', { lease });
      await s.txn([], [{ type: 'put', key: 'n/b', value: 'B', lease }]);
      await s.put('n/plain', 'P');
      assert.equal((await s.get('n/a'))?.lease, lease);
      assert.equal((await s.list('n/'))[1]?.lease, lease);
      assert.equal((await s.get('n/plain'))?.lease, undefined);
      assert.equal(await s.keepAlive(lease), 30);
      // A put without the lease detaches the key, as in etcd.
      await s.put('n/c', 'C', { lease });
      await s.put('n/c', 'C2');
      assert.equal((await s.get('n/c'))?.lease, undefined);
      const events: WatchEvent[] = [];
      await s.watch('n/', (ev) => events.push(ev));
      await s.revokeLease(lease);
      await waitFor(() => events.length >= 2, 'lease deletes');
      await settle();
      assert.deepEqual(
        events.map((e) => [e.type, e.key]),
        [
          ['delete', 'n/a'],
          ['delete', 'n/b'],
        ],
      );
      assert.equal(events[0]?.revision, events[1]?.revision, 'one revision for the revoke');
      assert.deepEqual(
        (await s.list('n/')).map((e) => e.key),
        ['n/c', 'n/plain'],
      );
      assert.ok(r1 > 0);
      assert.equal(await s.leaseTimeToLive(lease), undefined);
      await rejectsWith(s.keepAlive(lease), 'NOT_FOUND');
      await rejectsWith(s.revokeLease(lease), 'NOT_FOUND');
      await rejectsWith(s.put('n/x', 'x', { lease }), 'NOT_FOUND');
      assert.equal(await s.get('n/x'), undefined);
      await rejectsWith(s.grantLease(0), 'INVALID_ARGUMENT');
      await rejectsWith(s.grantLease(1.5), 'INVALID_ARGUMENT');
      await rejectsWith(s.put('n/x', 'x', { lease: 'abc' }), 'INVALID_ARGUMENT');
    });

    it('leases expire without keepalives and live with them', async () => {
      const s = await fresh();
      const kept = await s.grantLease(1);
      const left = await s.grantLease(1);
      await s.put('e/kept', '1', { lease: kept });
      await s.put('e/left', '2', { lease: left });
      const events: WatchEvent[] = [];
      await s.watch('e/', (ev) => events.push(ev));
      const t0 = Date.now();
      const timer = setInterval(() => void s.keepAlive(kept).catch(() => undefined), 300);
      try {
        await waitFor(() => events.length >= 1, 'expiry of the unkept lease', 10_000);
        const took = Date.now() - t0;
        assert.ok(took >= 500, `expired after ${took} ms`);
        assert.deepEqual(
          events.map((e) => [e.type, e.key]),
          [['delete', 'e/left']],
        );
        assert.equal(await s.get('e/left'), undefined);
        await new Promise((r) => setTimeout(r, 1500));
        assert.equal((await s.get('e/kept'))?.value, '1', 'kept alive');
      } finally {
        clearInterval(timer);
      }
      await waitFor(() => events.length >= 2, 'expiry once keepalives stop', 10_000);
      assert.equal(await s.get('e/kept'), undefined);
      await rejectsWith(s.keepAlive(left), 'NOT_FOUND');
    });

    it('close is idempotent and later calls reject', async () => {
      const s = await fresh();
      await s.put('k', 'v');
      await s.close();
      await s.close();
      await assert.rejects(s.get('k'));
      await assert.rejects(s.put('k', 'w'));
    });
  });
}
