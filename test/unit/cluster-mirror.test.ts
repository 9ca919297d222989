// The cluster store's mirror (src/cluster/mirror.ts) over the embedded
// store: its watch comes before its list, and what the two both bring is
// applied once, in order, with nothing lost between them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mirror } from '../../src/cluster/mirror.js';
import { createLogger } from '../../src/common/log.js';
import type { KvStore, WatchEvent } from '../../src/store/types.js';
import { tempStores } from '../helpers/temp-store.js';
import { waitFor } from '../helpers/wait.js';
import { memoryLog } from '../helpers/fake-network.js';

const store = tempStores('mirror');
const json = (_key: string, raw: string) => JSON.parse(raw) as string;
/** Strings of one lower-case word; anything else is refused. */
const word = (_key: string, raw: string) => {
  const v = JSON.parse(raw) as unknown;
  if (typeof v !== 'string' || !/^[a-z]+$/.test(v)) throw new Error('not a word');
  return v;
};

describe('Mirror', () => {
  it('applies a change its list already has once, and one that came after the list', async () => {
    const kv = await store();
    await kv.put('p/old', '"o"');
    let afterList = 0;
    // Writes land while the mirror starts: one after its watch is in place
    // and before its list (both bring it), one after the list was read (only
    // the watch brings it).
    const racing: KvStore = Object.create(kv) as KvStore;
    racing.listWithRevision = async (prefix) => {
      await kv.put('p/a', '"1"');
      const read = await kv.listWithRevision(prefix);
      afterList = await kv.put('p/b', '"2"');
      return read;
    };
    const m = new Mirror<string>(racing, 'p/', createLogger('error'), json);
    const changes: string[] = [];
    m.onChange((key) => changes.push(key));
    try {
      await m.loaded;
      await waitFor(() => m.revision >= afterList, 'the change after the list');
      assert.deepEqual([...m.all()].sort(), [
        ['a', '1'],
        ['b', '2'],
        ['old', 'o'],
      ]);
      // The list's keys (in key order), then the change after it: each once.
      assert.deepEqual(changes, ['a', 'old', 'b']);
      assert.equal(m.revisionOf('b'), afterList);
      // And after it, as any watch.
      const r = await kv.delete('p/a');
      assert.equal(r, true);
      await waitFor(() => m.get('a') === undefined, 'the delete');
      assert.deepEqual(changes, ['a', 'old', 'b', 'a']);
    } finally {
      m.close();
      await kv.close();
    }
  });

  it("keeps this host's own remembered writes over older changes of the key still on their way", async () => {
    const kv = await store();
    // The watch's events wait until the test lets them through, one at a time.
    const held: WatchEvent[] = [];
    let deliver: (ev: WatchEvent) => void = () => undefined;
    const slow: KvStore = Object.create(kv) as KvStore;
    slow.watch = (prefix, cb, opts) => {
      deliver = cb;
      return kv.watch(prefix, (ev) => held.push(ev), opts);
    };
    const m = new Mirror<string>(slow, 'p/', createLogger('error'), json);
    const next = async () => {
      await waitFor(() => held.length > 0, 'a watch event');
      deliver(held.shift()!);
    };
    try {
      await m.loaded;
      // An attach, then its detach, each remembered at its revision.
      const put = await kv.put('p/e', '"mine"');
      m.remember('e', 'mine', put);
      const del = await kv.txn([], [{ type: 'delete', key: 'p/e' }]);
      m.remember('e', undefined, del.revision);
      await next(); // the attach's put, older than the detach
      assert.equal(m.get('e'), undefined);
      await next(); // the detach's own delete
      assert.equal(m.get('e'), undefined);
      assert.equal(m.revision, del.revision);
      // Later changes (another host's) apply as before.
      const theirs = await kv.put('p/e', '"theirs"');
      await next();
      assert.equal(m.get('e'), 'theirs');
      assert.equal(m.revisionOf('e'), theirs);
      // A write remembered after the view has passed it changes nothing.
      m.remember('e', 'mine', put);
      assert.equal(m.get('e'), 'theirs');
    } finally {
      m.close();
      await kv.close();
    }
  });

  it('takes a value its decoder refuses as absent, keeps the rest, and follows the key on', async () => {
    const kv = await store();
    await kv.put('p/a', '"one"');
    await kv.put('p/bad', 'not json');
    await kv.put('p/c', 'null');
    await kv.put('p/d', '"two"');
    let watches = 0;
    const counting: KvStore = Object.create(kv) as KvStore;
    counting.watch = (prefix, cb, opts) => {
      watches++;
      return kv.watch(prefix, cb, opts);
    };
    const log = memoryLog();
    const m = new Mirror<string>(counting, 'p/', log, word);
    try {
      await m.loaded;
      assert.deepEqual([...m.all()].sort(), [
        ['a', 'one'],
        ['d', 'two'],
      ]);
      assert.equal(log.lines.filter((l) => /ignoring p\/(bad|c) /.test(l)).length, 2);
      // A bad write over a good value takes it out; a good one brings the key back.
      const r1 = await kv.put('p/a', '{"x":1}');
      await waitFor(() => m.revision >= r1, 'the bad write');
      assert.equal(m.get('a'), undefined);
      const r2 = await kv.put('p/bad', '"fine"');
      await waitFor(() => m.revision >= r2, 'the good write');
      assert.equal(m.get('bad'), 'fine');
      assert.deepEqual([...m.all().keys()].sort(), ['bad', 'd']);
      assert.equal(watches, 1, 'one watch, never opened again');
    } finally {
      m.close();
      await kv.close();
    }
  });
});
